"""Reciprocal-rank fusion with weights per leg and per query language (pure)."""

from __future__ import annotations

from collections import defaultdict
from typing import Mapping, Sequence

LEGS = ("lexical", "signature", "dense")

# Chosen by measurement (README, "Search quality"): an English-only model gets a small weight on
# Japanese queries so it can only break ties, and a full weight where it understands the language.
DENSE_NATIVE_WEIGHT = 0.7
DENSE_FOREIGN_WEIGHT = 0.0
# Error-code queries: the exact identifier match is the evidence; embeddings cannot read codes.
CODE_QUERY_DENSE_FACTOR = 0.4
MULTILINGUAL_HINTS = ("multilingual", "xlm", "labse", "bge-m3", "e5", "paraphrase-multilingual", "ruri", "japanese", "cl-nagoya")


def rrf(ranked: Mapping[str, Sequence[str]], k: int, weights: Mapping[str, float], limit: int | None = None) -> list[tuple[str, float]]:
    """Fuse ranked id lists: ``score(id) = sum(weight[leg] / (k + rank))`` with 1-based ranks.

    Legs with no weight (or weight 0) are ignored; ties are broken by the best single rank, then id.
    """
    if k < 1:
        raise ValueError("rrf k must be >= 1")
    scores: dict[str, float] = defaultdict(float)
    best_rank: dict[str, int] = {}
    for leg, ids in ranked.items():
        weight = weights.get(leg, 0.0)
        if weight <= 0:
            continue
        for rank, item in enumerate(ids, start=1):
            scores[item] += weight / (k + rank)
            best_rank[item] = min(best_rank.get(item, rank), rank)
    fused = sorted(scores.items(), key=lambda kv: (-kv[1], best_rank[kv[0]], kv[0]))
    return fused[:limit] if limit is not None else fused


def group_best(items: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Collapse (case_id, score) pairs sorted by score into one entry per case (best first wins)."""
    seen: dict[str, float] = {}
    for case_id, score in items:
        if case_id not in seen:
            seen[case_id] = score
    return list(seen.items())


RELATED_FACTOR = 0.95
RELATED_DEPTH = 5


def expand_related(fused: Sequence[tuple[str, float]], related: Mapping[str, Sequence[str]],
                   factor: float = RELATED_FACTOR, depth: int = RELATED_DEPTH) -> list[tuple[str, float]]:
    """Lift the declared ``related`` cases of the top ``depth`` hits (recurring problems).

    A related case scores at least ``factor`` times its parent's score, so it ranks just below
    the parent unless it already ranks higher; nothing is lowered, and ids are never duplicated.
    """
    scores = dict(fused)
    order = {cid: i for i, (cid, _) in enumerate(fused)}
    for cid, score in list(fused[:depth]):
        for other in related.get(cid, ()):
            lifted = score * factor
            if lifted > scores.get(other, 0.0):
                scores[other] = lifted
                order.setdefault(other, len(order))
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def model_languages(model: str) -> str:
    """``"multi"`` for models known to be multilingual by name, else ``"en"``."""
    lowered = model.lower()
    return "multi" if any(h in lowered for h in MULTILINGUAL_HINTS) else "en"


def default_weights(model: str) -> dict[str, dict[str, float]]:
    """Weights per query language for a model: the dense leg is trusted only in languages it knows."""
    multi = model_languages(model) == "multi"
    return {
        "en": {"lexical": 1.0, "signature": 1.0, "dense": DENSE_NATIVE_WEIGHT},
        "ja": {"lexical": 1.0, "signature": 1.0, "dense": DENSE_NATIVE_WEIGHT if multi else DENSE_FOREIGN_WEIGHT},
    }


def weights_for_kind(weights: Mapping[str, float], kind: str) -> dict[str, float]:
    """Adjust a language's weights for the query kind (``code`` queries trust the dense leg less)."""
    adjusted = dict(weights)
    if kind == "code" and "dense" in adjusted:
        adjusted["dense"] = round(adjusted["dense"] * CODE_QUERY_DENSE_FACTOR, 6)
    return adjusted


def parse_weight_spec(spec: str) -> dict[str, dict[str, float]]:
    """Parse ``'ja:lexical=1,dense=0.1;en:dense=0.6'`` into ``{lang: {leg: weight}}``."""
    result: dict[str, dict[str, float]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        lang, sep, body = part.partition(":")
        if not sep or lang.strip() not in ("ja", "en"):
            raise ValueError(f"'{part}': expected LANG:leg=weight,... with LANG ja or en")
        legs = result.setdefault(lang.strip(), {})
        for item in filter(None, (i.strip() for i in body.split(","))):
            leg, eq, value = item.partition("=")
            if not eq or leg.strip() not in LEGS:
                raise ValueError(f"'{item}': expected leg=weight with leg one of {', '.join(LEGS)}")
            try:
                legs[leg.strip()] = float(value)
            except ValueError:
                raise ValueError(f"'{item}': weight is not a number") from None
            if legs[leg.strip()] < 0:
                raise ValueError(f"'{item}': weight must not be negative")
    return result


def resolve_weights(model: str, override: str = "") -> dict[str, dict[str, float]]:
    """Default weights for the model, with the settings override applied on top."""
    weights = default_weights(model)
    for lang, legs in parse_weight_spec(override).items():
        weights[lang].update(legs)
    return weights
