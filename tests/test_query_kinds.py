"""How search reads a query (issue 16, item 2), measured on a labelled set written by a separate
session: 143 texts support might paste (tickets and e-mails with signatures and phone numbers,
bare codes, logs of ~30 formats, descriptions with log lines)."""

from __future__ import annotations

import json
from collections import Counter

from conftest import REPO

from indexer.searcher import classify_query
from kb.logsig import text_kind

ROWS = [
    json.loads(line)
    for line in (REPO / "tests/data/query_kinds.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


def _has_log(text: str) -> bool:
    return text_kind(text) != "prose"


def test_the_labelled_set_is_large_and_varied():
    labels = Counter(r["label"] for r in ROWS)
    assert len(ROWS) >= 100 and min(labels[k] for k in ("words", "code", "log", "mixed")) >= 20


def test_prose_is_never_read_as_a_log():
    """The bug: a customer's e-mail with a phone number became a "log" and the signature leg took over."""
    misread = [r["text"][:80] for r in ROWS if r["label"] == "words" and _has_log(r["text"])]
    assert misread == []


def test_logs_and_descriptions_with_logs_are_found_to_hold_log_lines():
    rows = [r for r in ROWS if r["label"] in ("log", "mixed")]
    found = sum(_has_log(r["text"]) for r in rows)
    assert found / len(rows) >= 0.9, f"{found}/{len(rows)}"


def test_prose_or_log_decision_accuracy():
    rows = [r for r in ROWS if r["label"] != "code"]
    right = sum(_has_log(r["text"]) == (r["label"] != "words") for r in rows)
    assert right / len(rows) >= 0.95, f"{right}/{len(rows)}"


def test_a_pasted_log_is_never_read_as_an_error_code_query_and_prose_never_as_a_log_query():
    kinds = Counter((r["label"], classify_query(r["text"])) for r in ROWS)
    assert kinds[("words", "log")] == 0 and kinds[("log", "code")] == 0
