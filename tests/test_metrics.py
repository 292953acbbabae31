import math

import pytest

from indexer.metrics import mean_scores, mrr_at, ndcg_at, recall_at, score_all, success_at


def test_ndcg_perfect_and_shifted():
    assert ndcg_at(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at(["x", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["x"], {"a": 1}) == 0.0


def test_ndcg_graded():
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1}) < ndcg_at(["a", "b"], {"a": 2, "b": 1}) == 1.0


def test_recall_success_mrr():
    rel = {"a": 1, "b": 1}
    assert recall_at(["a", "x", "b"], rel, 1) == 0.5
    assert recall_at(["a", "x", "b"], rel, 5) == 1.0
    assert success_at(["x", "a"], rel, 1) == 0.0 and success_at(["x", "a"], rel, 5) == 1.0
    assert mrr_at(["x", "y", "b"], rel) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], rel, 10) == 0.0


def test_mean_scores_counts_queries():
    rows = [score_all(["a"], {"a": 1}), score_all(["x"], {"a": 1})]
    mean = mean_scores(rows)
    assert mean["success@1"] == 0.5 and mean["queries"] == 2
    assert mean_scores([])["queries"] == 0
