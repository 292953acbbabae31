"""Reciprocal-rank fusion with weights per leg and per query language (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kb.weights import KINDS, LANGS, parse_weight_spec

# Chosen by measurement (README, "Search quality"): an English-only model gets a small weight on
# Japanese queries so it can only break ties, and a full weight where it understands the language.
DENSE_NATIVE_WEIGHT = 0.7
DENSE_FOREIGN_WEIGHT = 0.0
# Error-code queries: the exact identifier match is the evidence; embeddings cannot read codes.
CODE_QUERY_DENSE_FACTOR = 0.4
MULTILINGUAL_HINTS = (
    "multilingual",
    "xlm",
    "labse",
    "bge-m3",
    "e5",
    "paraphrase-multilingual",
    "ruri",
    "japanese",
    "cl-nagoya",
)


def rrf(
    ranked: Mapping[str, Sequence[str]],
    k: int,
    weights: Mapping[str, float],
    limit: int | None = None,
) -> list[tuple[str, float]]:
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


def normalised(ids: Sequence[str], values: Sequence[float]) -> dict[str, float]:
    """A leg's scores min-max normalised over the ids it returned (best 1, worst 0; one score, or
    equal scores, give 1)."""
    if not ids or len(values) != len(ids):
        return {}
    high, low = max(values), min(values)
    span = high - low
    return {item: (value - low) / span if span > 0 else 1.0 for item, value in zip(ids, values)}


CROSS_LINGUAL_LEGS = ("dense", "sparse")  # legs whose scores mean the same across languages
# legs whose scores are already in [0, 1] and mean the same for every query (not min-max
# normalised): the learned leg's confidence, so that two close phrasings of different cases lift
# both alike and the other legs decide between them
ABSOLUTE_LEGS = ("learned",)


def convex(
    ranked: Mapping[str, Sequence[str]],
    scores: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    limit: int | None = None,
    foreign: Collection[str] = (),
) -> list[tuple[str, float]]:
    """Fuse by score: ``score(id) = sum(weight[leg] * norm_leg(id))`` (:func:`normalised`; an id a
    leg did not return scores 0 there). Unlike reciprocal ranks this keeps how far apart a leg's
    hits are: a clear first place in one leg outweighs a muddle in another.

    ``foreign``: ids written in another language than the query. Words cannot match across
    languages, so for them the lexical leg counts as much as the cross-lingual legs (dense, sparse)
    say, the largest of them: a Japanese query meets the English case of its problem on equal terms.

    Legs with no weight, or with no scores, are ignored; ties: best single rank, then id.
    """
    norms = {
        leg: dict(zip(ids, scores.get(leg, ())))
        if leg in ABSOLUTE_LEGS
        else normalised(ids, list(scores.get(leg, ())))
        for leg, ids in ranked.items()
        if weights.get(leg, 0.0) > 0
    }
    across = [norms[leg] for leg in CROSS_LINGUAL_LEGS if leg in norms]
    if foreign and "lexical" in norms and across:
        lexical = norms["lexical"]
        norms["lexical"] = dict(lexical) | {
            i: max([lexical.get(i, 0.0)] + [n.get(i, 0.0) for n in across]) for i in foreign
        }
    fused: dict[str, float] = defaultdict(float)
    best_rank: dict[str, int] = {}
    for leg, norm in norms.items():
        for item, value in norm.items():
            fused[item] += weights[leg] * value
        for rank, item in enumerate(ranked[leg], start=1):
            best_rank[item] = min(best_rank.get(item, rank), rank)
    ordered = sorted(fused.items(), key=lambda kv: (-kv[1], best_rank.get(kv[0], 1 << 30), kv[0]))
    return ordered[:limit] if limit is not None else ordered


def group_best(items: Sequence[tuple[str, float]]) -> list[tuple[str, float]]:
    """Collapse (case_id, score) pairs sorted by score into one entry per case (best first wins)."""
    seen: dict[str, float] = {}
    for case_id, score in items:
        if case_id not in seen:
            seen[case_id] = score
    return list(seen.items())


RELATED_FACTOR = 0.95
RELATED_DEPTH = 5


def expand_related(
    fused: Sequence[tuple[str, float]],
    related: Mapping[str, Sequence[str]],
    factor: float = RELATED_FACTOR,
    depth: int = RELATED_DEPTH,
) -> list[tuple[str, float]]:
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


Weights = dict[str, dict[str, dict[str, float]]]  # {lang: {kind: {leg: weight}}}

# The learned leg (indexer.learned_leg) on worded queries only: an error code or a pasted log has
# exact evidence of its own, and the replay shows no gain there (docs "Learning from support").
LEARNED_WEIGHT = 1.5

# A multilingual encoder's weights per query language and kind, chosen on the tuning sets
# (docs: "Search quality"; scripts/tune_fusion.py): never on the set the figures are reported on.
MULTILINGUAL_WEIGHTS: Weights = {
    "ja": {
        "words": {
            "lexical": 1.0,
            "signature": 1.0,
            "dense": 0.0,
            "sparse": 1.5,
            "learned": LEARNED_WEIGHT,
        },
        "code": {"lexical": 1.0, "signature": 1.0, "dense": 0.0, "sparse": 0.3},
        "log": {"lexical": 1.0, "signature": 0.5, "dense": 0.0, "sparse": 0.0},
    },
    "en": {
        "words": {
            "lexical": 1.0,
            "signature": 1.0,
            "dense": 1.0,
            "sparse": 1.0,
            "learned": LEARNED_WEIGHT,
        },
        "code": {"lexical": 1.0, "signature": 1.0, "dense": 0.0, "sparse": 0.3},
        "log": {"lexical": 1.0, "signature": 0.5, "dense": 0.0, "sparse": 0.0},
    },
}


def _english_only_weights() -> Weights:
    """An English-only model: no weight on Japanese queries, less on error codes."""
    table: Weights = {}
    for lang in LANGS:
        dense = DENSE_NATIVE_WEIGHT if lang == "en" else DENSE_FOREIGN_WEIGHT
        table[lang] = {
            kind: {
                "lexical": 1.0,
                "signature": 1.0,
                "sparse": 0.0,
                "dense": round(dense * (CODE_QUERY_DENSE_FACTOR if kind == "code" else 1.0), 6),
            }
            for kind in KINDS
        }
    return table


def default_weights(model: str) -> Weights:
    """Weights per query language and kind for a model: the dense leg is trusted only in languages it knows."""
    if model_languages(model) == "multi":
        return {
            lang: {kind: dict(legs) for kind, legs in kinds.items()}
            for lang, kinds in MULTILINGUAL_WEIGHTS.items()
        }
    return _english_only_weights()


def default_method(model: str, setting: str = "auto") -> str:
    """How a model's legs are fused (the ``fusion_method`` setting, or for ``auto``): by normalised
    scores for a multilingual model (its similarities mean the same in every language), by
    reciprocal ranks otherwise (measured: README "Search quality")."""
    if setting != "auto":
        return setting
    return "convex" if model_languages(model) == "multi" else "rrf"


def has_leg(table: Weights, leg: str) -> bool:
    """Whether ``leg`` has a weight for some query language and kind."""
    return any(legs.get(leg, 0) > 0 for kinds in table.values() for legs in kinds.values())


def weights_for(table: Mapping[str, Any], lang: str, kind: str) -> dict[str, float]:
    """One query's leg weights from a table. Tables of older generations hold legs per language
    only ({lang: {leg: w}}): there ``code`` queries get the dense leg at ``CODE_QUERY_DENSE_FACTOR``."""
    entry = table.get(lang) or table.get("en") or {}
    if entry and all(isinstance(v, (int, float)) for v in entry.values()):
        legs = dict(entry)
        if kind == "code" and "dense" in legs:
            legs["dense"] = round(legs["dense"] * CODE_QUERY_DENSE_FACTOR, 6)
        return legs
    return dict(entry.get(kind) or entry.get("words") or {})


def weight_spec(table: Weights) -> str:
    """A table as a ``fusion_weights`` setting (``lang.kind:leg=w,...;...``): what
    :func:`resolve_weights` turns back into the same table."""
    return ";".join(
        f"{lang}.{kind}:" + ",".join(f"{leg}={w:g}" for leg, w in sorted(legs.items()))
        for lang, kinds in sorted(table.items())
        for kind, legs in sorted(kinds.items())
    )


def resolve_weights(model: str, override: str = "") -> Weights:
    """Default weights for the model, with the settings override applied on top (a language
    override first, then ``language.kind`` ones)."""
    weights = default_weights(model)
    spec = parse_weight_spec(override)
    for target, legs in sorted(spec.items(), key=lambda kv: "." in kv[0]):
        lang, _, kind = target.partition(".")
        for k in [kind] if kind else list(KINDS):
            weights[lang][k].update(legs)
    return weights


def exact_first(
    fused: Sequence[tuple[str, float]], exact: Mapping[str, int]
) -> list[tuple[str, float]]:
    """Cases whose error codes the query names (``exact``: case id -> codes matched) first, most
    codes first, in fused order among equals; every other case after them, in fused order."""
    if not exact:
        return list(fused)
    order = {cid: i for i, (cid, _) in enumerate(fused)}
    named = sorted(
        (item for item in fused if item[0] in exact),
        key=lambda item: (-exact[item[0]], order[item[0]]),
    )
    return named + [item for item in fused if item[0] not in exact]


NEGATIVE_FACTOR = (
    0.5  # a case voted not relevant for a near-identical query keeps half its score (kb.phrasings)
)


def demote(
    fused: Sequence[tuple[str, float]],
    demoted: Collection[str],
    protected: Collection[str] = (),
    factor: float = NEGATIVE_FACTOR,
) -> list[tuple[str, float]]:
    """Each ``demoted`` case's score times ``factor``, the case moved down past the hits after it
    that now score more (never up; the rest keep their order, the exact-code tier included); the
    ``protected`` ones (an exact-code or signature match) are never lowered."""
    result = list(fused)
    for cid in [c for c, _ in fused if c in demoted and c not in protected]:
        at = next(i for i, (c, _) in enumerate(result) if c == cid)
        lowered = result.pop(at)[1] * factor
        while at < len(result) and result[at][1] > lowered:
            at += 1
        result.insert(at, (cid, lowered))
    return result
