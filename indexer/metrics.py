"""Retrieval metrics on one ranked list (pure): nDCG@k, recall@k, success@k, MRR@k."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Normalised discounted cumulative gain with graded relevance (gain = grade)."""
    dcg = sum(relevant.get(doc, 0.0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """Share of the relevant documents found in the top ``k``."""
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def success_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int) -> float:
    """1.0 when at least one relevant document is in the top ``k``."""
    return 1.0 if any(relevant.get(d, 0) > 0 for d in ranked[:k]) else 0.0


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, float], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top ``k``."""
    for i, doc in enumerate(ranked[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / i
    return 0.0


METRICS = {
    "ndcg@10": lambda r, rel: ndcg_at(r, rel, 10),
    "recall@1": lambda r, rel: recall_at(r, rel, 1),
    "recall@5": lambda r, rel: recall_at(r, rel, 5),
    "recall@10": lambda r, rel: recall_at(r, rel, 10),
    "success@1": lambda r, rel: success_at(r, rel, 1),
    "success@5": lambda r, rel: success_at(r, rel, 5),
    "mrr@10": lambda r, rel: mrr_at(r, rel, 10),
}


def score_all(ranked: Sequence[str], relevant: Mapping[str, float]) -> dict[str, float]:
    return {name: fn(ranked, relevant) for name, fn in METRICS.items()}


def mean_scores(rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Average of per-query metric dicts, plus the query count."""
    if not rows:
        return {name: 0.0 for name in METRICS} | {"queries": 0}
    result: dict[str, float] = {
        name: round(sum(r[name] for r in rows) / len(rows), 4) for name in METRICS
    }
    result["queries"] = len(rows)
    return result
