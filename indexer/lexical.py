"""The lexical side, engine-neutral: field table, documents, query building, the engine interface.

Nothing here imports a search engine: :mod:`indexer.whoosh_engine` and
:mod:`indexer.tantivy_engine` implement :class:`LexicalEngine` (chosen by :mod:`indexer.engines`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from indexer import analysis
from indexer.filters import Filters, review_tag
from kb import logsig
from kb.case import Case
from kb.codes import code_variants
from kb.roles import review_state


@dataclass(frozen=True)
class FieldSpec:
    """One indexed field: which analyzer fills it and its query-time boost."""

    name: str
    analyzer: str
    boost: float


LEARNED_FIELD = "learned"
LEARNED_BOOST = 0.25  # chosen on the tuning set: docs "Learning from support"

# Field profiles. "standard" is the product; "baseline" reproduces a default analyzer
# (lowercase word runs, Japanese unsplit) and exists so `kb eval` can show the difference.
PROFILES: dict[str, tuple[FieldSpec, ...]] = {
    "standard": (
        FieldSpec("title", "words", 2.5),
        FieldSpec("symptoms", "words", 1.5),
        FieldSpec("resolution", "words", 0.8),
        FieldSpec("body", "words", 1.0),
        FieldSpec("bigram", "bigrams", 0.6),
        FieldSpec("ident", "idents", 3.0),
        FieldSpec(
            LEARNED_FIELD, "words", LEARNED_BOOST
        ),  # learned phrasings (kb.phrasings); boost measured: docs "Learning from support"
    ),
    "baseline": (
        FieldSpec("title", "plain", 2.5),
        FieldSpec("symptoms", "plain", 1.5),
        FieldSpec("resolution", "plain", 0.8),
        FieldSpec("body", "plain", 1.0),
    ),
}
SIGNATURE_FIELD = "logsig"


def profile(name: str) -> tuple[FieldSpec, ...]:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"unknown field profile '{name}' (choices: {', '.join(PROFILES)})"
        ) from None


@dataclass(frozen=True)
class LexicalDoc:
    """A case as the lexical engine sees it: analysed tokens per field, plus filter values."""

    case_id: str
    tokens: Mapping[str, Sequence[str]]
    product: str = ""
    component: str = ""
    status: str = ""
    visibility: str = ""
    created: str = ""
    tags: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class FieldQuery:
    """Weighted terms to look for in one field."""

    field: str
    terms: tuple[tuple[str, float], ...]
    boost: float = 1.0


@dataclass(frozen=True)
class LexicalHit:
    case_id: str
    score: float
    matched: tuple[str, ...]  # "field:term"


class LexicalEngine(Protocol):
    """What every lexical engine offers. Generations are written once, then only read."""

    def add(self, docs: Iterable[LexicalDoc]) -> None: ...
    def delete(self, case_ids: Iterable[str]) -> None: ...
    def commit(self) -> None: ...
    def search(
        self, queries: Sequence[FieldQuery], filters: Filters, limit: int, with_matched: bool = True
    ) -> list[LexicalHit]: ...  # without: hits' ``matched`` are empty
    def doc_frequencies(self, field: str, terms: Iterable[str]) -> dict[str, int]: ...
    def doc_count(self) -> int: ...
    def matching_ids(self, filters: Filters, among: Iterable[str] | None = None) -> set[str]: ...
    def close(self) -> None: ...


def case_field_texts(case: Case) -> dict[str, str]:
    """Raw text per logical field, before analysis."""
    resolution = "\n\n".join(
        filter(None, (case.section_text("resolution"), case.section_text("workaround")))
    )
    return {
        "title": case.title,
        "symptoms": case.section_text("symptoms"),
        "resolution": resolution,
        "body": "\n\n".join(
            s.text for s in case.sections if s.name not in ("symptoms", "resolution", "workaround")
        ),
        "all": f"{case.title}\n{case.body_text}",
    }


def case_document(
    case: Case, fields: Sequence[FieldSpec], learned: Sequence[str] = ()
) -> LexicalDoc:
    """Analyse a case into a :class:`LexicalDoc` for the given field profile (``learned``: its
    counting learned phrasings, :mod:`kb.phrasings`)."""
    texts = case_field_texts(case) | {LEARNED_FIELD: "\n".join(learned)}
    tokens: dict[str, list[str]] = {}
    for spec in fields:
        source = texts["all"] if spec.name in ("bigram", "ident") else texts[spec.name]
        tokens[spec.name] = analysis.analyzer(spec.analyzer)(source)
    if "ident" in tokens:
        tokens["ident"] += [v for code in case.error_codes for v in code_variants(code)]
    tokens[SIGNATURE_FIELD] = logsig.signature_tokens(logsig.log_text(case))
    return LexicalDoc(
        case.id,
        tokens,
        case.product,
        case.component,
        case.status,
        case.visibility,
        case.created.isoformat(),
        (*case.tags, review_tag(review_state(case))),
        tuple(case.versions),
    )


MIN_TERM_WEIGHT = 0.01


def select_terms(
    counts: Mapping[str, int], doc_freq: Mapping[str, int], n_docs: int, limit: int
) -> list[tuple[str, float]]:
    """MoreLikeThis-style reduction: keep the ``limit`` terms with the highest tf-idf (absent terms dropped).

    Weights are normalised so the best term weighs 1.0; ties keep query order.
    """
    scored = []
    for order, (term, tf) in enumerate(counts.items()):
        df = doc_freq.get(term, 0)
        if df == 0:
            continue
        idf = math.log(1 + (n_docs - df + 0.5) / (df + 0.5))
        scored.append((-(1 + math.log(tf)) * idf, order, term))
    scored.sort()
    top = scored[:limit]
    if not top:
        return []
    best = -top[0][0]
    # never a zero weight: a term kept is a term that counts (whoosh divides by boosts when skipping)
    return [(term, max(round(-score / best, 4), MIN_TERM_WEIGHT)) for score, _, term in top]


DocFreq = Callable[[str, Iterable[str]], Mapping[str, int]]


def build_queries(
    text: str, fields: Sequence[FieldSpec], doc_freq: DocFreq, n_docs: int, max_terms: int
) -> list[FieldQuery]:
    """Analyse the query text for each field; long queries keep only their most informative terms."""
    queries = []
    for spec in fields:
        if spec.name == "ident":
            terms = analysis.query_ident_terms(text)
        else:
            terms = analysis.analyzer(spec.analyzer)(text)
        counts = Counter(terms)
        if not counts:
            continue
        if len(counts) > max_terms:
            chosen = select_terms(counts, doc_freq(spec.name, counts), n_docs, max_terms)
        else:
            chosen = [(t, 1.0) for t in counts]
        if chosen:
            queries.append(FieldQuery(spec.name, tuple(chosen), spec.boost))
    return queries


def signature_query(text: str, doc_freq: DocFreq, n_docs: int, max_terms: int) -> list[FieldQuery]:
    """The signature leg's query: template and shingle tokens of the log-like lines of ``text``."""
    counts = Counter(logsig.signature_tokens(text))
    if not counts:
        return []
    chosen = select_terms(counts, doc_freq(SIGNATURE_FIELD, counts), n_docs, max_terms * 2)
    return [FieldQuery(SIGNATURE_FIELD, tuple(chosen), 1.0)] if chosen else []
