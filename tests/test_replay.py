"""scripts/replay_feedback.py: the pairing of paraphrases and a smoke run (a few cases, the test encoder)."""

from __future__ import annotations

import importlib.util
import json

from worlds import REPO

from indexer.evaluate import EvalQuery


def _script():
    spec = importlib.util.spec_from_file_location(
        "replay_feedback", REPO / "scripts" / "replay_feedback.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def q(text: str, *relevant: str) -> EvalQuery:
    return EvalQuery(text, {r: 1.0 for r in relevant}, "words", "en")


def test_each_cases_queries_of_one_kind_split_in_two_halves_in_file_order():
    replay = _script()
    queries = [
        q("a1", "A"),
        q("b1", "B"),
        q("a2", "A", "B"),
        q("a3", "A"),
        q("c1", "C"),
        q("b2", "B"),
        q("none"),
    ]
    first, second, alone = replay.split(queries)
    assert [x.query for x in first] == ["a1", "b1"]
    assert [x.query for x in second] == ["a2", "a3", "b2"]
    assert [x.query for x in alone] == ["c1"]


def test_smoke_replay_learns_and_poisoning_changes_nothing(tmp_path):
    replay = _script()
    out = tmp_path / "replay.json"
    assert (
        replay.main(["--smoke", "--json", str(out)]) == 0
    )  # non-zero when poisoning changed a ranking
    (result,) = json.loads(out.read_text("utf-8"))
    assert (
        result["poisoning"]["rankings_changed"] == 0
        and result["poisoning"]["index"]["mode"] == "none"
    )
    assert result["index_after_feedback"]["mode"] == "incremental"
    after = result["after"][next(iter(result["after"]))]
    for kind in ("code", "log"):
        if kind in result["before"]:
            assert after[kind]["success@1"] >= result["before"][kind]["success@1"]
