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


def test_paraphrase_groups_split_by_their_dates_not_by_file_order(tmp_path):
    replay = _script()
    rows = [
        ("g1", "2026-03-09", "late a"),
        ("g1", "2026-03-01", "early a"),
        ("g2", "2026-04-01", "only b"),
        ("g1", "2026-03-20", "latest a"),
        ("g1", "2026-03-02", "second a"),
    ]
    path = tmp_path / "paraphrases.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"query": t, "relevant": ["A"], "kind": "words", "group": g, "asked": d})
            for g, d, t in rows
        ),
        "utf-8",
    )
    groups = replay.paraphrase_groups(path)
    assert [[x.query for x in g] for g in groups] == [
        ["early a", "second a", "late a", "latest a"],
        ["only b"],
    ]
    first, second = replay.split_by_time(groups)
    assert [x.query for x in first] == ["early a", "second a"]
    assert [x.query for x in second] == ["late a", "latest a"]


def test_a_paraphrase_without_its_group_or_date_is_an_error_naming_the_line(tmp_path):
    replay = _script()
    path = tmp_path / "paraphrases.jsonl"
    path.write_text('{"query": "x", "relevant": ["A"], "group": "g"}\n', "utf-8")
    try:
        replay.paraphrase_groups(path)
    except SystemExit as exc:
        assert "paraphrases.jsonl:1" in str(exc) and "asked" in str(exc)
    else:
        raise AssertionError("a paraphrase without a date was accepted")


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
