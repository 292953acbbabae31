"""Answering queries: analyse, run the legs inside the live generation, fuse, explain.

A :class:`Searcher` is made once per process. It opens the generation named by ``CURRENT``
and reopens only when the pointer changes; the encoder is loaded once, on first use.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from indexer import analysis, evidence, learned_leg
from indexer import generation as gen
from indexer.builder import read_catalog
from indexer.dense import alone, model_texts
from indexer.engines import lexical_engine
from indexer.filters import Filters
from indexer.fusion import (
    convex,
    demote,
    exact_first,
    expand_related,
    group_best,
    rrf,
    weights_for,
)
from indexer.highlight import QueryTerms, quick_count, snippet, summary
from indexer.lexical import LexicalEngine, build_queries, profile, signature_query
from indexer.reuse import CHUNKS_FILE
from kb import logsig, phrasings
from kb.case import Case
from kb.codes import code_index, extract_error_codes, query_code_candidates
from kb.errors import NotFoundError, QueryError
from kb.language import detect_language, has_words
from kb.roles import visibilities_for
from kb.settings import Settings
from kb.store import Store
from kb.weights import LEGS

MAX_QUERY_CHARS = 100_000
MAX_LIMIT = 100
MAX_CANDIDATES = 500
WEAK_SHOWN = 5  # weak candidates shown where the matches run out
MASK_CACHE = 32


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _dense_pool() -> ThreadPoolExecutor:
    """The process's threads for the dense leg (the model, then faiss: both release the GIL, so it
    runs beside the lexical legs). Made on first use, and again in a forked child."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-dense")
        return _POOL


def _forget_pool_after_fork() -> None:
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()  # the parent's threads do not exist in the child


os.register_at_fork(after_in_child=_forget_pool_after_fork)


@dataclass(frozen=True)
class SearchRequest:
    text: str
    filters: Filters = field(default_factory=Filters)
    role: str = "support"
    limit: int = 10
    offset: int = 0
    legs: tuple[str, ...] = LEGS
    exclude: tuple[str, ...] = ()
    judge: bool = True  # count only hits with evidence (indexer.evidence); False: rank the nearest cases, all count


@dataclass
class Hit:
    id: str
    title: str
    status: str
    product: str
    component: str
    versions: list[str]
    visibility: str
    created: str
    score: float
    section: str
    section_heading: str
    snippet: str
    resolution: str
    why: dict[str, Any]
    lang: str = ""  # the case's language
    other_language: bool = False  # the case is written in another language than the query

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SearchResponse:
    hits: list[Hit]
    total: int
    query: dict[str, Any]
    took_ms: float
    generation: str
    candidates: list[str] = field(
        default_factory=list
    )  # every matching id (filtered, visible), best first: for facets
    weak: list[Hit] = field(
        default_factory=list
    )  # the best candidates without evidence, after the matches, not counted

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self.hits],
            "total": self.total,
            "weak": [h.to_dict() for h in self.weak],
            "query": self.query,
            "took_ms": round(self.took_ms, 1),
            "generation": self.generation,
        }


class OpenGeneration:
    """One published generation, opened for reading."""

    def __init__(self, folder: Path):
        from indexer.dense import VectorIndex
        from indexer.sparse_index import SparseIndex

        self.name = folder.name
        self.manifest = gen.Manifest.read(folder)
        self.fields = profile(self.manifest.field_profile)
        self.lexical: LexicalEngine = lexical_engine(
            self.manifest.lexical_engine, folder / "lexical", self.fields
        )
        self.vectors = VectorIndex.load(folder)
        chunks = json.loads((folder / CHUNKS_FILE).read_text("utf-8"))
        # interned: four chunks of a case share one id string, every chunk a section name's
        self.chunk_case = [sys.intern(c["case_id"]) for c in chunks]
        self.chunk_section = [sys.intern(c["section"]) for c in chunks]
        del chunks
        self.case_rows: dict[str, list[int]] = {}
        for row, case_id in enumerate(self.chunk_case):
            if case_id:  # an empty id: a row removed from an extended graph (indexer.reuse)
                self.case_rows.setdefault(case_id, []).append(row)
        self.case_index = {cid: i for i, cid in enumerate(self.case_rows)}
        self.row_case = np.fromiter(
            (self.case_index.get(cid, -1) for cid in self.chunk_case),
            dtype=np.int64,
            count=len(self.chunk_case),
        )
        # the rows search may return when nothing is filtered (None: every row)
        self.live_rows = (self.row_case >= 0) if (self.row_case < 0).any() else None
        self.sparse = SparseIndex.load(folder)
        # learned phrasings as query vectors (None: the generation has none)
        self.learned = learned_leg.LearnedVectors.load(folder)
        # each sparse row's place among the cases with chunks (-1: none; such a row never passes a filter)
        self.sparse_rows = (
            np.fromiter(
                (self.case_index.get(cid, -1) for cid in self.sparse.case_ids),
                dtype=np.int64,
                count=self.sparse.size,
            )
            if self.sparse is not None
            else np.zeros(0, dtype=np.int64)
        )
        self._masks: OrderedDict[Filters, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()
        self._masks_lock = threading.Lock()
        self.doc_count = self.lexical.doc_count()
        catalog = read_catalog(folder)
        self.related: dict[str, list[str]] = {
            cid: list(info.get("related", [])) for cid, info in catalog.items()
        }
        self.case_lang: dict[str, str] = {
            cid: str(info.get("lang") or "") for cid, info in catalog.items()
        }
        self.code_cases = code_index((cid, info.get("codes", ())) for cid, info in catalog.items())
        self.negative = (self.manifest.extra.get("learned") or {}).get(
            "negative"
        ) or {}  # kb.phrasings: not-relevant token sets

    def row_mask(self, flt: Filters) -> np.ndarray | None:
        """Which chunk rows pass the filters (None: all); cached, as a role's filter repeats on every query."""
        masks = self._filter_masks(flt)
        return masks[0] if masks is not None else self.live_rows

    def sparse_mask(self, flt: Filters) -> np.ndarray | None:
        """Which rows of the sparse index pass the filters (None: all)."""
        masks = self._filter_masks(flt)
        return masks[1] if masks is not None else None

    def _filter_masks(self, flt: Filters) -> tuple[np.ndarray, np.ndarray | None] | None:
        if flt.is_empty():
            return None
        with self._masks_lock:
            cached = self._masks.get(flt)
            if cached is not None:
                self._masks.move_to_end(flt)
                return cached
        passing = self.lexical.matching_ids(flt)
        cases = np.zeros(len(self.case_index), dtype=bool)
        cases[[self.case_index[cid] for cid in passing if cid in self.case_index]] = True
        chunk_mask = (
            cases[self.row_case] & (self.row_case >= 0)
            if len(self.row_case)
            else np.zeros(0, dtype=bool)
        )
        sparse_mask = (
            (cases[self.sparse_rows] & (self.sparse_rows >= 0)) if self.sparse is not None else None
        )
        with self._masks_lock:
            self._masks[flt] = (chunk_mask, sparse_mask)
            while len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        return chunk_mask, sparse_mask

    def close(self) -> None:
        self.lexical.close()


MODEL_LEGS = ("dense", "sparse", "learned")  # the legs that read the model's encoding of the query


def effective_weights(
    table: dict[str, Any], lang: str, kind: str, legs: Sequence[str], bare_code: bool = False
) -> dict[str, float]:
    """The fusion weights for one query, by its language and kind; a leg alone keeps its order.
    The learned leg (:mod:`indexer.learned_leg`) comes with the dense one: it reads its query vector.
    A ``bare_code`` query (:func:`is_bare_code`) fuses no model leg: a code alone carries no meaning
    the model could add to the exact matches, and encoding it costs more than the rest of the search."""
    if len(legs) == 1:
        return {legs[0]: 1.0}
    fused = {*legs, "learned"} if "dense" in legs else set(legs)
    if bare_code:
        fused -= set(MODEL_LEGS)
    return {leg: w for leg, w in weights_for(table, lang, kind).items() if leg in fused}


def read_query(
    table: dict[str, Any], lang: str, text: str, matches: dict[str, int], legs: Sequence[str]
) -> tuple[str, dict[str, float]]:
    """A query's kind and fusion weights, from its text and the visible cases that list a code it
    names (what search, ``rank_many`` and the evaluation all read the same way)."""
    kind = classify_query(text, bool(matches))
    return kind, effective_weights(table, lang, kind, legs, is_bare_code(text, matches))


def is_bare_code(text: str, matches: dict[str, int]) -> bool:
    """Whether the query is one code some visible case lists, and nothing else (``ORA-01555``,
    ``XYZ-AUTH-4012``): one whitespace-free token with exact matches. A code with words around it,
    or a code written in two parts (``SQLSTATE 40P01``), is not bare."""
    return bool(matches) and len(text.split()) == 1


# ids, matched "field:term"s, scores, the query's own terms ("words", "idents", "signature")
TextLegs = tuple[
    dict[str, list[str]], dict[str, tuple[str, ...]], dict[str, list[float]], dict[str, list[str]]
]
# lang, ids per leg, exact matches, scores per leg, the ids that match by evidence of their own
# (indexer.evidence.own_matches: their related cases match too, as search shows them)
Ranking = tuple[str, dict[str, list[str]], dict[str, int], dict[str, list[float]], list[str]]


def _model_leg_runs(leg: str, weights: dict[str, float], has_learned: bool) -> bool:
    """Whether a query needs a model leg: it has a weight (a leg asked for alone has one), or for
    the dense leg's query vector, the learned leg has one and the generation learned phrasings."""
    return weights.get(leg, 0) > 0 or (
        leg == "dense" and has_learned and weights.get("learned", 0) > 0
    )


def _weighted_dense(
    hits: tuple[list[tuple[str, int, float]], list[tuple[str, float]]], weights: dict[str, float]
) -> tuple[list[tuple[str, int, float]], list[tuple[str, float]]]:
    """A query's dense and learned hits, each dropped where its leg has no weight (the query
    vector was made for the other one): a leg without weight is not fused, nor shown."""
    dense, learned = hits
    return (
        dense if weights.get("dense", 0) > 0 else [],
        learned if weights.get("learned", 0) > 0 else [],
    )


def fusion_method(manifest: gen.Manifest) -> str:
    """How the generation fuses its legs (older generations: reciprocal ranks)."""
    return str(manifest.extra.get("fusion_method", "rrf"))


CROSS_LINGUAL_FAIRNESS = (
    True  # measured (docs "Search quality"): convex fusion treats other-language cases fairly
)


def fuse(
    ranked: dict[str, list[str]],
    weights: dict[str, float],
    k: int,
    related: dict[str, list[str]],
    exact: dict[str, int] | None = None,
    scores: dict[str, list[float]] | None = None,
    method: str = "rrf",
    foreign: Collection[str] = (),
) -> list[tuple[str, float]]:
    """The legs fused (weighted reciprocal ranks, or a weighted sum of min-max normalised scores:
    ``method``; ``foreign``: the ids in another language than the query, see :func:`convex`), the
    declared related cases of the top hits lifted, then the cases whose error codes the query
    names first (``exact``; see :func:`exact_tier`)."""
    fused = (
        convex(ranked, scores or {}, weights, foreign=foreign)
        if method == "convex"
        else rrf(ranked, k, weights)
    )
    return exact_first(expand_related(fused, related), exact or {})


def foreign_ids(
    ranked: dict[str, list[str]],
    case_lang: dict[str, str],
    lang: str,
    weights: dict[str, float] | None = None,
) -> set[str]:
    """The ids the legs (those with a weight, when ``weights`` is given) found that are written in
    another language than the query."""
    if not case_lang or not CROSS_LINGUAL_FAIRNESS:
        return set()
    legs = [leg for leg in ranked if weights is None or weights.get(leg, 0.0) > 0]
    return {
        cid for leg in legs for cid in ranked[leg] if case_lang.get(cid, lang) not in ("", lang)
    }


def match_reasons(
    g: OpenGeneration,
    fused: Sequence[tuple[str, float]],
    text_legs: TextLegs,
    scores: dict[str, list[float]],
    ranked: dict[str, list[str]],
    exact: dict[str, int],
    weights: dict[str, float],
    *,
    lang: str,
) -> dict[str, list[str]]:
    """Why each fused case matches the query (cases without a reason are weak candidates). A model
    leg with no weight for this query counts no more than it ranks; ``lang``: the query's language
    (the floors measured for it: :func:`indexer.evidence.for_language`)."""
    matched, terms = text_legs[1], text_legs[3]
    floors = evidence.floors_for(g.manifest.model, lang)
    model = evidence.model_leg_evidence(ranked, scores, weights)
    words, idents, signature = (
        terms.get("words", []),
        terms.get("idents", []),
        terms.get("signature", []),
    )
    near_learned = (
        dict(zip(ranked.get("learned", []), scores.get("learned", [])))
        if weights.get("learned", 0) > 0
        else {}
    )
    found: dict[str, list[str]] = {}
    for cid, _ in fused:
        share, held, identifier = evidence.lexical_evidence(matched.get(cid, ()), words, idents)
        sig_share, sig_line = evidence.signature_evidence(matched.get(cid, ()), signature)
        learned_share, learned_held = evidence.learned_evidence(matched.get(cid, ()), words)
        e = evidence.Evidence(
            exact_code=cid in exact,
            identifier=identifier,
            lexical_share=share,
            words_matched=held,
            signature_share=sig_share,
            signature_line=sig_line,
            learned_share=learned_share,
            learned_matched=learned_held,
            learned_similarity=near_learned.get(cid),
            **model.get(cid, {}),
        )
        why = evidence.reasons(e, floors, len(words), one_word_query=len(words) == 1 and not idents)
        if why:
            found[cid] = why
    return evidence.with_related(found, g.related, [cid for cid, _ in fused])


def exact_matches(text: str, code_cases: dict[str, list[tuple[str, str]]]) -> dict[str, int]:
    """Case id -> how many distinct codes the case lists (in ``error_codes`` or found in its text)
    that the query names. Plain words never count (a listed ``requests.exceptions.Timeout`` is not
    named by "login timeout"): only what looks like a code counts (``query_code_candidates(strict=True)``)."""
    if not code_cases:
        return {}
    named: dict[str, set[str]] = {}
    for candidate in query_code_candidates(text, strict=True):
        if candidate in code_cases:
            for cid, code in code_cases[candidate]:
                named.setdefault(cid, set()).add(code)
    return {cid: len(codes) for cid, codes in named.items()}


EXACT_FIRST_KINDS = (
    "code",
    "words",
)  # measured: docs "Search quality" (a pasted log lost 0.01 nDCG@10 with it)


def exact_tier(
    kind: str, matches: dict[str, int], kinds: Sequence[str] = EXACT_FIRST_KINDS
) -> dict[str, int]:
    """The exact-code tier a query of ``kind`` gets: a query naming a code, alone or in a sentence,
    puts every case that lists it first; in a pasted log a code is one piece of evidence among
    others (a log names incidental codes too), weighed by the lexical identifier field and the
    signature leg (``kinds``: measured, docs "Search quality")."""
    return matches if kind in kinds else {}


SHORT_QUERY_WORDS = 6


def classify_query(text: str, names_listed_code: bool = False) -> str:
    """``log`` for pasted logs, ``code`` for short queries carrying an error code (of a known shape,
    or any value some case lists: ``names_listed_code``), else ``words``."""
    if logsig.text_kind(text) == "log":
        return "log"
    if (names_listed_code or extract_error_codes(text)) and len(text.split()) <= SHORT_QUERY_WORDS:
        return "code"
    return "words"  # prose, and a description with log lines in it (the signature leg still runs)


def _check_request(req: SearchRequest, listing: bool = False) -> None:
    """``listing``: a request without a query (:meth:`Searcher.browse`), checked for the rest."""
    if not listing and not req.text.strip():
        raise QueryError("the query is empty: type words, an error code or paste a log", "q")
    if len(req.text) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is longer than {MAX_QUERY_CHARS} characters; paste the relevant part of the log",
            "q",
        )
    if not 1 <= req.limit <= MAX_LIMIT:
        raise QueryError(f"limit must be between 1 and {MAX_LIMIT}", "limit")
    if req.offset < 0:
        raise QueryError("offset must not be negative", "offset")
    unknown = [leg for leg in req.legs if leg not in LEGS]
    if unknown:
        raise QueryError(f"unknown leg {unknown[0]!r} (legs: {', '.join(LEGS)})", "legs")
    visibilities_for(req.role)


class Searcher:
    def __init__(
        self, settings: Settings, store: Store, encoder_loader: Callable[..., Any] | None = None
    ):
        self.settings = settings
        self.store = store
        self._encoder_loader = encoder_loader
        self._lock = threading.Lock()
        self._open: OpenGeneration | None = None

    # -- generation and encoder ------------------------------------------------------------
    def generation(self) -> OpenGeneration:
        """The live generation, reopened when ``CURRENT`` names a new one."""
        name = gen.current_name(self.settings.index_dir)
        current = self._open
        if current is not None and current.name == name:
            return current
        with self._lock:
            if self._open is None or self._open.name != name:
                fresh = OpenGeneration(gen.current_dir(self.settings.index_dir))
                self._open = (
                    fresh  # the old one is left to the garbage collector: in-flight queries finish
                )
            return self._open

    def encoder(self, model: str) -> Any:
        if self._encoder_loader is not None:
            return self._encoder_loader(model)
        from indexer.dense import encoder_for

        return encoder_for(self.settings, model)

    # -- legs --------------------------------------------------------------------------------
    def _lexical(
        self, g: OpenGeneration, text: str, filters: Filters
    ) -> tuple[list[str], dict[str, tuple[str, ...]], list[float], dict[str, list[str]]]:
        queries = build_queries(
            text, g.fields, g.lexical.doc_frequencies, g.doc_count, self.settings.long_query_terms
        )
        hits = g.lexical.search(queries, filters, self.settings.candidates)
        analyzers = {spec.name: spec.analyzer for spec in g.fields}
        words = list(
            dict.fromkeys(
                t for q in queries if analyzers.get(q.field) == "words" for t, _ in q.terms
            )
        )
        idents = evidence.whole_identifiers(text)
        parts = analysis.analyzer("words")(" ".join(idents)) if idents else []
        terms = {
            "words": evidence.informative(
                words, self._word_frequencies(g, words), g.doc_count, parts
            ),
            "idents": idents,
        }
        return (
            [h.case_id for h in hits],
            {h.case_id: h.matched for h in hits},
            [h.score for h in hits],
            terms,
        )

    @staticmethod
    def _word_frequencies(g: OpenGeneration, words: Sequence[str]) -> dict[str, int]:
        """How many cases hold each word, in the word fields that have most of it."""
        counts: dict[str, int] = {}
        for spec in g.fields:
            if spec.analyzer == "words" and spec.name in ("title", "symptoms", "body"):
                for term, df in g.lexical.doc_frequencies(spec.name, words).items():
                    counts[term] = max(counts.get(term, 0), df)
        return counts

    def _signature(
        self, g: OpenGeneration, text: str, filters: Filters
    ) -> tuple[list[str], list[float], dict[str, tuple[str, ...]], list[str]]:
        if not logsig.looks_like_log(text):
            return [], [], {}, []
        queries = signature_query(
            text, g.lexical.doc_frequencies, g.doc_count, self.settings.long_query_terms
        )
        hits = g.lexical.search(queries, filters, self.settings.candidates)
        tokens = [t for q in queries for t, _ in q.terms]
        return (
            [h.case_id for h in hits],
            [h.score for h in hits],
            {h.case_id: h.matched for h in hits},
            tokens,
        )

    def _dense(
        self,
        g: OpenGeneration,
        texts: Sequence[str],
        filters: Sequence[Filters],
        wanted: Sequence[bool] | None = None,
        lone: bool = False,
    ) -> list[tuple[list[tuple[str, int, float]], list[tuple[str, float]]]]:
        """Each query's dense hits (case, its best chunk's row, similarity) and learned-leg hits
        (case, its confidence): one query vector for both. ``wanted``: which queries the dense leg
        itself is searched for (None: all; the others only need the vector for the learned leg)."""
        if (g.vectors.size == 0 and g.learned is None) or not texts:
            return [([], []) for _ in texts]
        encoder = self.encoder(g.manifest.model)
        with alone(encoder, lone):
            vectors = encoder.encode_queries(model_texts(encoder, texts))
        return [
            (
                self._dense_hits(g, vector, flt) if wanted is None or wanted[i] else [],
                self._learned_hits(g, vector, flt),
            )
            for i, (vector, flt) in enumerate(zip(vectors, filters))
        ]

    def _dense_hits(
        self, g: OpenGeneration, vector: np.ndarray, flt: Filters
    ) -> list[tuple[str, int, float]]:
        if g.vectors.size == 0:
            return []
        found = g.vectors.search(
            vector[None, :],
            self.settings.candidates * 4,
            g.row_mask(flt),
            self.settings.ann_ef_search,
        )[0]
        best = group_best([(g.chunk_case[row], score) for row, score in found])
        first_row: dict[str, int] = {}
        for row, _ in found:
            first_row.setdefault(g.chunk_case[row], row)
        return [(cid, first_row[cid], score) for cid, score in best][: self.settings.candidates]

    def _learned_hits(
        self, g: OpenGeneration, vector: np.ndarray, flt: Filters
    ) -> list[tuple[str, float]]:
        """The cases with a learned phrasing close to the query, among those the filters pass,
        each with the leg's confidence (:func:`indexer.learned_leg.confidence`)."""
        if g.learned is None:
            return []
        threshold, limit = self.settings.learn_similarity, self.settings.candidates
        near = g.learned.search(vector, threshold, g.case_index, self.settings.learn_distinct)[
            : limit * 4
        ]
        if near and not flt.is_empty():
            passing = g.lexical.matching_ids(flt, [cid for cid, _ in near])
            near = [(cid, score) for cid, score in near if cid in passing]
        return [(cid, learned_leg.confidence(score, threshold)) for cid, score in near[:limit]]

    # -- search ----------------------------------------------------------------------------
    def search(self, req: SearchRequest) -> SearchResponse:
        return self.search_many([req])[0]

    def search_many(self, reqs: Sequence[SearchRequest]) -> list[SearchResponse]:
        """Answer several requests; the dense leg encodes all their queries in one batch, in a
        worker thread while this one runs the lexical and signature legs."""
        for req in reqs:
            _check_request(req)
        g = self.generation()
        started = time.perf_counter()
        langs = [detect_language(r.text) for r in reqs]
        filters = [r.filters.for_role(r.role) for r in reqs]
        matches = [self._visible_matches(g, r, flt) for r, flt in zip(reqs, filters)]
        read = [
            read_query(g.manifest.fusion_weights, lang, r.text, m, r.legs)
            for r, lang, m in zip(reqs, langs, matches)
        ]
        kinds, weights = [kind for kind, _ in read], [w for _, w in read]
        needed = {
            leg: [
                i
                for i, r in enumerate(reqs)
                if leg in r.legs and _model_leg_runs(leg, weights[i], g.learned is not None)
            ]
            for leg in ("dense", "sparse")
        }
        lone = sum(bool(rows) for rows in needed.values()) == 1  # one model leg: more threads
        pending = {}
        for leg, rows in needed.items():
            if rows:
                args: list[Any] = [g, [reqs[i].text for i in rows], [filters[i] for i in rows]]
                if leg == "dense":  # which of them the dense leg itself is searched for
                    args.append([weights[i].get("dense", 0) > 0 for i in rows])
                pending[leg] = _dense_pool().submit(getattr(self, f"_{leg}"), *args, lone=lone)
        text_legs = [self._text_legs(g, req, flt) for req, flt in zip(reqs, filters)]
        found = {leg: dict(zip(needed[leg], future.result())) for leg, future in pending.items()}
        shared = (time.perf_counter() - started) / max(1, len(reqs))
        return [
            self._answer(
                g,
                req,
                lang,
                flt,
                legs,
                _weighted_dense(found.get("dense", {}).get(i, ([], [])), weights[i]),
                found.get("sparse", {}).get(i, []),
                matches[i],
                kinds[i],
                weights[i],
                shared,
            )
            for i, (req, lang, flt, legs) in enumerate(zip(reqs, langs, filters, text_legs))
        ]

    @staticmethod
    def _visible_matches(g: OpenGeneration, req: SearchRequest, flt: Filters) -> dict[str, int]:
        """The exact code matches among the cases this request may see: a code only a hidden case
        lists must not change how the query is read (its kind and weights are in the response)."""
        found = exact_matches(req.text, g.code_cases) if "lexical" in req.legs else {}
        if not found:
            return found
        visible = g.lexical.matching_ids(flt, list(found)) if not flt.is_empty() else set(found)
        return {cid: n for cid, n in found.items() if cid in visible and cid not in req.exclude}

    def _sparse(
        self,
        g: OpenGeneration,
        texts: Sequence[str],
        filters: Sequence[Filters],
        lone: bool = False,
    ) -> list[list[tuple[str, float]]]:
        """The sparse leg: each query's latent terms against the cases' (best first); ``lone``:
        the only model leg running (its encoding may take more threads)."""
        sparse = g.sparse if self.settings.sparse_leg else None
        encoder = self.encoder(g.manifest.model) if sparse is not None and texts else None
        if sparse is None or encoder is None or not hasattr(encoder, "encode_sparse"):
            return [[] for _ in texts]
        with alone(encoder, lone):
            vectors = encoder.encode_sparse(model_texts(encoder, texts))
        return [
            sparse.search(vector, self.settings.candidates, g.sparse_mask(flt))
            for vector, flt in zip(vectors, filters)
        ]

    def _text_legs(self, g: OpenGeneration, req: SearchRequest, flt: Filters) -> TextLegs:
        """The lexical and signature legs' ranked case ids and scores, and the lexical matched terms."""
        ranked: dict[str, list[str]] = {}
        scores: dict[str, list[float]] = {}
        matched: dict[str, tuple[str, ...]] = {}
        terms: dict[str, list[str]] = {}
        if "lexical" in req.legs:
            ranked["lexical"], matched, scores["lexical"], terms = self._lexical(g, req.text, flt)
        if "signature" in req.legs:
            ranked["signature"], scores["signature"], by_log, terms["signature"] = self._signature(
                g, req.text, flt
            )
            matched = {
                cid: matched.get(cid, ()) + by_log.get(cid, ()) for cid in {*matched, *by_log}
            }
        return ranked, matched, scores, terms

    @staticmethod
    def _with_dense(
        req: SearchRequest,
        text_legs: TextLegs,
        dense: list[tuple[str, int, float]],
        sparse: list[tuple[str, float]] | None = None,
        learned: list[tuple[str, float]] | None = None,
    ) -> tuple[dict[str, list[str]], dict[str, list[float]]]:
        """Every leg's ranked case ids and scores, the request's exclusions removed."""
        ranked, scores = dict(text_legs[0]), dict(text_legs[2])
        if "dense" in req.legs:
            ranked["dense"], scores["dense"] = [d[0] for d in dense], [d[2] for d in dense]
        if "dense" in req.legs and learned:
            ranked["learned"], scores["learned"] = (
                [cid for cid, _ in learned],
                [score for _, score in learned],
            )
        if "sparse" in req.legs and sparse:
            ranked["sparse"], scores["sparse"] = (
                [cid for cid, _ in sparse],
                [score for _, score in sparse],
            )
        if req.exclude:
            kept = {
                leg: [i for i, cid in enumerate(ids) if cid not in req.exclude]
                for leg, ids in ranked.items()
            }
            ranked = {leg: [ranked[leg][i] for i in rows] for leg, rows in kept.items()}
            scores = {leg: [scores[leg][i] for i in rows] for leg, rows in kept.items()}
        return ranked, scores

    def rank_many(self, reqs: Sequence[SearchRequest]) -> list[Ranking]:
        """(query language, ranked ids per leg, exact code matches, scores per leg, matching ids) for
        each request: the evaluation's raw material."""
        g = self.generation()
        langs = [detect_language(r.text) for r in reqs]
        filters = [r.filters.for_role(r.role) for r in reqs]
        dense = self._dense(g, [r.text for r in reqs], filters)
        sparse = self._sparse(g, [r.text for r in reqs], filters)
        rankings = []
        for req, lang, flt, (d, near), sp in zip(reqs, langs, filters, dense, sparse):
            text_legs = self._text_legs(g, req, flt)
            ranked, scores = self._with_dense(req, text_legs, d, sp, near)
            exact = self._visible_matches(g, req, flt)
            _, weights = read_query(g.manifest.fusion_weights, lang, req.text, exact, req.legs)
            every = [
                (cid, 0.0) for cid in dict.fromkeys(cid for ids in ranked.values() for cid in ids)
            ]
            matched = match_reasons(g, every, text_legs, scores, ranked, exact, weights, lang=lang)
            rankings.append((lang, ranked, exact, scores, evidence.own_matches(matched)))
        return rankings

    def _answer(
        self,
        g: OpenGeneration,
        req: SearchRequest,
        lang: str,
        flt: Filters,
        text_legs: TextLegs,
        model_hits: tuple[list[tuple[str, int, float]], list[tuple[str, float]]],
        sparse: list[tuple[str, float]],
        matches: dict[str, int],
        kind: str,
        weights: dict[str, float],
        shared_seconds: float,
    ) -> SearchResponse:
        started = time.perf_counter()
        dense, learned = model_hits
        (ranked, scores), matched = (
            self._with_dense(req, text_legs, dense, sparse, learned),
            text_legs[1],
        )
        tier = exact_tier(kind, matches)
        fused = fuse(
            ranked,
            weights,
            g.manifest.rrf_k,
            g.related,
            tier,
            scores,
            fusion_method(g.manifest),
            foreign_ids(ranked, g.case_lang, lang, weights),
        )
        fused = [
            (cid, score)
            for cid, score in self._drop_unfiltered(g, fused, ranked, flt)
            if cid not in req.exclude
        ]
        fused = self._visible_now(fused, req.role)
        judged = req.judge and set(req.legs) == set(
            LEGS
        )  # a leg asked for alone ranks, it does not judge
        why_matched = (
            match_reasons(g, fused, text_legs, scores, ranked, matches, weights, lang=lang)
            if judged
            else {cid: ["nearest"] for cid, _ in fused}
        )
        # learned "not relevant" (kb.phrasings): lowered and no longer a match, unless an exact-code or signature match
        lowered = (
            phrasings.demoted_for(req.text, g.negative, self.settings.learn_near)
            - set(matches)
            - {cid for cid, why in why_matched.items() if {"exact_code", "log"} & set(why)}
        )
        fused, why_matched = (
            demote(fused, lowered),
            {cid: why for cid, why in why_matched.items() if cid not in lowered},
        )
        strong, weak = evidence.partition(fused, why_matched)
        page = strong[req.offset : req.offset + req.limit]
        # weak candidates: after the last match, on the page where the matches run out, never counted
        weak_page = (
            weak[:WEAK_SHOWN]
            if len(strong) < req.offset + req.limit and (page or req.offset == 0)
            else []
        )
        ranks = {leg: {cid: i for i, cid in enumerate(ids, start=1)} for leg, ids in ranked.items()}
        dense_rows = {d[0]: d[1] for d in dense}
        # the language the query is written in: none for a bare code or a pasted log (machine
        # text), so that no hit is said to be "in the other language" for them
        written = lang if kind != "log" and has_words(req.text) else ""
        hits = self._hydrate(g, req, written, page, ranks, matched, dense_rows, tier, why_matched)
        weak_hits = self._hydrate(g, req, written, weak_page, ranks, matched, dense_rows, tier, {})
        query_info = {
            "text": req.text[:500],
            "lang": written,
            "weights_lang": lang,  # whose weights were used: a code or a log still has a side
            "kind": kind,
            "filters": flt.to_dict(),
            "identifiers": sorted(set(extract_error_codes(req.text)))[:20],
            "weights": weights,
            "role": req.role,
        }
        took = (time.perf_counter() - started + shared_seconds) * 1000
        return SearchResponse(
            hits,
            len(strong),
            query_info,
            took,
            g.name,
            [cid for cid, _ in strong[:MAX_CANDIDATES]],
            weak_hits,
        )

    def browse(self, req: SearchRequest) -> SearchResponse:
        """The cases the request's filters pass, newest first, with no query: what a tag on a case
        page links to, or the filters alone. Nothing is ranked, so no hit says why it matches; the
        total, the facets and the page count the same cases, visible to the role now."""
        _check_request(req, listing=True)
        started = time.perf_counter()
        g = self.generation()
        flt = req.filters.for_role(req.role)
        passing = g.lexical.matching_ids(flt)
        ordered = [
            cid
            for cid in self.store.newest_first(passing, visibilities_for(req.role))
            if cid not in req.exclude
        ]
        page = [(cid, 0.0) for cid in ordered[req.offset : req.offset + req.limit]]
        hits = self._hydrate(g, req, "", page, {}, {}, {}, {}, {})
        query_info = {
            "text": "",
            "lang": "",
            "weights_lang": "",
            "kind": "browse",
            "filters": flt.to_dict(),
            "identifiers": [],
            "weights": {},
            "role": req.role,
        }
        took = (time.perf_counter() - started) * 1000
        return SearchResponse(
            hits, len(ordered), query_info, took, g.name, ordered[:MAX_CANDIDATES]
        )

    def _visible_now(self, fused: list[tuple[str, float]], role: str) -> list[tuple[str, float]]:
        """Only cases the store holds now with a visibility ``role`` may see: the generation can be
        behind the store (a case made restricted, the build killed after the store step), and the
        total, the facets and the hits of one request must all count the same cases."""
        if not fused:
            return fused
        shown = self.store.visible_ids([cid for cid, _ in fused], visibilities_for(role))
        return [(cid, score) for cid, score in fused if cid in shown]

    def _drop_unfiltered(
        self,
        g: OpenGeneration,
        fused: list[tuple[str, float]],
        ranked: dict[str, list[str]],
        flt: Filters,
    ) -> list[tuple[str, float]]:
        """Related cases were added outside the engines: keep only those that pass the filters."""
        from_legs = {cid for ids in ranked.values() for cid in ids}
        extra = [cid for cid, _ in fused if cid not in from_legs]
        if not extra:
            return fused
        allowed = g.lexical.matching_ids(flt, extra)
        return [(cid, score) for cid, score in fused if cid in from_legs or cid in allowed]

    def _hydrate(
        self,
        g: OpenGeneration,
        req: SearchRequest,
        lang: str,
        page: list[tuple[str, float]],
        ranks: dict[str, dict[str, int]],
        matched: dict[str, tuple[str, ...]],
        dense_rows: dict[str, int],
        exact: dict[str, int],
        reasons: dict[str, list[str]],
    ) -> list[Hit]:
        from indexer import (
            explain,
        )  # imported here: another change to this module's imports is in flight

        parents = {
            r.split(":", 1)[1]
            for cid, _ in page
            for r in reasons.get(cid, [])
            if r.startswith("related:")
        }
        cases = self.store.get_cases([cid for cid, _ in page] + sorted(parents))
        allowed = visibilities_for(req.role)
        terms = QueryTerms.of(req.text)
        hits = []
        for cid, score in page:
            case = cases.get(cid)
            if case is None or case.visibility not in allowed:
                continue  # stale generation or not visible: never shown
            dense_section = g.chunk_section[dense_rows[cid]] if cid in dense_rows else None
            section = best_section(
                case, terms, dense_section, ranks.get("signature", {}).get(cid) is not None
            )
            why: dict[str, Any] = {leg: ranks[leg].get(cid) for leg in ranks}
            terms_seen = (
                m.split(":", 1)[1]
                for m in matched.get(cid, ())
                if not m.startswith(("logsig:", "learned:"))
            )
            # a term matched in several fields once
            why["matched_terms"] = list(dict.fromkeys(terms_seen))[:12]
            why["dense_section"] = dense_section
            why["exact_code"] = cid in exact  # the query names an error code this case lists
            why["reasons"] = reasons.get(cid, [])  # empty: a weak candidate (see indexer.evidence)
            parent = next((cases.get(p) for p in parents if f"related:{p}" in why["reasons"]), None)
            # in the case's own words: the query's words as written there, codes, pasted log lines, the related match
            why["explain"] = explain.explain_case(
                req.text,
                case,
                why["reasons"],
                section.name if section else "",
                ranks.get("signature", {}).get(cid) is not None,
                parent if parent is not None and parent.visibility in allowed else None,
            )
            hits.append(
                Hit(
                    id=case.id,
                    title=case.title,
                    status=case.status,
                    product=case.product,
                    component=case.component,
                    versions=list(case.versions),
                    visibility=case.visibility,
                    created=case.created.isoformat(),
                    score=round(score, 6),
                    section=section.name if section else "",
                    section_heading=section.heading if section else "",
                    snippet=snippet(section.text, terms) if section else "",
                    resolution=summary(case.resolution_text),
                    why=why,
                    lang=case.lang,
                    other_language=bool(case.lang and lang) and case.lang != lang,
                )
            )
        return hits

    def similar(self, case_id: str, role: str = "support", limit: int = 5) -> SearchResponse:
        """Cases like ``case_id`` (its title and symptoms as the query), itself excluded."""
        case = self.store.get_case(case_id)
        if case is None or case.visibility not in visibilities_for(role):
            raise NotFoundError(f"no case '{case_id}'")
        text = f"{case.title}\n{case.section_text('symptoms')}\n" + " ".join(case.error_codes)
        return self.search(
            SearchRequest(text=text, role=role, limit=limit, exclude=(case.id,), judge=False)
        )

    def cases_with_signature(
        self, signature_id: str, role: str = "support", limit: int = MAX_CANDIDATES
    ) -> list[str]:
        """Ids of the cases whose logs have the log line template ``signature_id`` (an ``l`` token of
        :func:`kb.logsig.signature_tokens`), among those ``role`` may see now; raises
        :class:`QueryError` for an id of another shape or an unknown role, :class:`IndexNotReadyError`
        before the first generation."""
        import re  # imported here: other changes to this module's imports are in flight

        from indexer.lexical import SIGNATURE_FIELD, FieldQuery

        if not re.fullmatch(r"l[0-9a-f]{16}", signature_id):
            raise QueryError("a signature id is 'l' followed by 16 hexadecimal digits", "signature")
        g = self.generation()
        query = [FieldQuery(SIGNATURE_FIELD, ((signature_id, 1.0),), 1.0)]
        hits = g.lexical.search(query, Filters().for_role(role), limit, with_matched=False)
        shown = self.store.visible_ids([h.case_id for h in hits], visibilities_for(role))
        return [h.case_id for h in hits if h.case_id in shown]


def best_section(
    case: Case, terms: QueryTerms, dense_section: str | None, by_signature: bool
) -> Any:
    if by_signature and case.section("logs"):  # the signature leg matched the case's log
        return case.section("logs")
    # a quick count: only the chosen section is analysed, for its snippet
    scored = [
        (quick_count(s.text, terms), s.name == dense_section, -i, s)
        for i, s in enumerate(case.sections)
        if s.text.strip()
    ]
    if not scored:
        return None
    best = max(scored, key=lambda t: t[:3])
    if best[0] == 0 and dense_section is None:
        return case.section("symptoms") or best[3]
    return best[3]
