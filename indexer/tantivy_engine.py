"""The tantivy lexical engine (BM25, scored like whoosh's BM25F). The only module that imports tantivy.

Documents arrive already analysed (see :mod:`indexer.analysis`): every text field uses tantivy's
built-in ``whitespace`` tokenizer (split on ASCII whitespace, no lowercasing, no stemming), so the
tokens indexed are exactly ours. The tokenizer is referred to by name, so nothing needs to be
registered when an index is reopened. Queries are built as query objects, never parsed from text.

Design choices (the rest mirrors :mod:`indexer.whoosh_engine`):

* **Scoring parity.** Both engines use k1=1.2, b=0.75, the same tf and length normalisation, and
  multiply each term's score by ``FieldQuery.boost * weight``. They differ only in idf: whoosh uses
  ``1 + ln(N / (df + 1))``, tantivy ``ln(1 + (N - df + 0.5) / (df + 0.5))``, which punishes common
  terms far harder. Each term's boost is therefore multiplied by ``idf_whoosh / idf_tantivy`` so a
  tantivy generation ranks like a whoosh one (same eval figures, same fusion weights). Costs one
  ``doc_freq`` lookup per query term. What remains apart is how each engine rounds a field's
  length to one byte (whoosh in 3.3 % steps, tantivy exact up to 40 tokens), which reorders
  near-ties in long fields.
* **Dates.** ``created`` is an indexed integer ``yyyymmdd``; date filters are inclusive ranges on it.
* **Matched terms.** Nothing extra is stored. After a search, the query's distinct (field, term)
  pairs present in the index are probed in chunks of 24 against the hits only: each pair becomes a
  constant-score clause worth ``2**bit``, restricted to the hits' ids, so a hit's score is the
  bitmask of the pairs it contains (exact: sums of distinct powers of two below 2**24 are exact in
  float32). That is ``ceil(pairs / 24)`` small queries per search (one for a short query, four or
  five for a pasted log; about 0.2 ms each at 2,000 cases) and no index space. A stored field of
  each document's unique tokens would cost index space and turning thousands of stored strings
  into Python objects per search.
* **Deletions.** Tantivy keeps deleted documents in their segment until a merge, and its
  statistics (df, N, average field length) still count them; the Python binding cannot force a
  merge. A constant marker term on every document gives the count including deleted ones; when it
  differs from the live count, :meth:`TantivyEngine.doc_frequencies` counts live documents exactly
  (one count query per term) and the idf correction uses exact live figures. Only the average
  field length still includes replaced versions, until tantivy merges the segment or the next full
  build.
* **Read-only folders.** Tantivy takes a lock file even to read; a folder the process may not
  write is opened through a private folder of links (see :func:`open_index`).
* **Filters** are disjunctions of term queries scoring 0 (``term_set_query`` costs about 0.25 ms
  per query in this binding), required beside the scoring disjunction, so they filter inside the
  engine and leave scores as whoosh's.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import tantivy
from tantivy import FieldType, Occur, Query

from indexer.filters import Filters
from indexer.lexical import SIGNATURE_FIELD, FieldQuery, FieldSpec, LexicalDoc, LexicalHit

NAME = "tantivy"
TOKENIZER = "whitespace"
_KEYWORD_FIELDS = ("product", "component", "status", "visibility", "tags", "versions")
_MARKER_FIELD, _MARKER = "doc", "doc"  # one constant term per document: counts deleted ones too
_MATCH_BITS = 24  # float32 holds integers below 2**24 exactly
DF_CACHE = 200_000  # (field, term) document frequencies remembered per open index
_HEAP_BYTES = 256 * 2**20


def schema(fields: Sequence[FieldSpec]) -> tantivy.Schema:
    """The index schema for a field profile (pure: no index needed)."""
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field(_MARKER_FIELD, tokenizer_name="raw", index_option="basic")
    for name in _KEYWORD_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("created", indexed=True, fast=True)
    for name in [spec.name for spec in fields] + [SIGNATURE_FIELD]:
        builder.add_text_field(name, tokenizer_name=TOKENIZER, index_option="freq")
    return builder.build()


def text_fields(index_schema: tantivy.Schema, names: Iterable[str]) -> set[str]:
    """Those of ``names`` the schema has (a query on another field matches nothing, as in whoosh)."""
    known = set()
    for name in names:
        try:
            Query.term_query(index_schema, name, "")
        except ValueError:
            continue
        known.add(name)
    return known


def date_key(value: Any) -> int | None:
    """``2026-03-02`` (a date or its ISO text) -> ``20260302``; None when there is no date."""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value or "")
    digits = text[:10].replace("-", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else None


def whoosh_idf(df: int, n_docs: int) -> float:
    """Whoosh's idf (``WeightingModel.idf``), which BM25F multiplies into every term score."""
    return math.log(n_docs / (df + 1)) + 1 if n_docs else 1.0


def tantivy_idf(df: int, n_docs: int) -> float:
    """Tantivy's BM25 idf, as it computes it from its own (deleted-inclusive) statistics."""
    return math.log(1 + (n_docs - df + 0.5) / (df + 0.5))


def _score_nothing(query: Query) -> Query:
    """A clause that restricts but adds nothing to the score (whoosh filters never score)."""
    return Query.const_score_query(query, 0.0)


def any_of(index_schema: tantivy.Schema, field: str, values: Iterable[str]) -> Query:
    """Documents holding one of ``values`` in ``field``. A disjunction of term queries: in this binding
    ``term_set_query`` costs about 0.25 ms a query even for one value, a term query microseconds."""
    terms = [Query.term_query(index_schema, field, str(v)) for v in dict.fromkeys(values)]
    return terms[0] if len(terms) == 1 else Query.boolean_query([(Occur.Should, t) for t in terms])


def filter_clauses(index_schema: tantivy.Schema, filters: Filters) -> list[Query]:
    """One restricting clause per constrained attribute (pure: no index needed)."""
    parts = []
    for field, values in (
        ("product", filters.products),
        ("component", filters.components),
        ("status", filters.statuses),
        ("visibility", filters.visibilities),
        ("tags", filters.tags),
        ("versions", filters.versions),
        ("tags", filters.review_tags()),
    ):
        if values:
            parts.append(any_of(index_schema, field, values))
    if filters.created_from or filters.created_to:
        parts.append(
            Query.range_query(
                index_schema,
                "created",
                FieldType.Integer,
                date_key(filters.created_from),
                date_key(filters.created_to),
            )
        )
    return [_score_nothing(p) for p in parts]


def weighted_terms(
    queries: Sequence[FieldQuery], known: Iterable[str]
) -> list[tuple[str, str, float]]:
    """(field, term, boost) for every query term in a field the index has (unknown fields match nothing)."""
    fields = set(known)
    return [
        (q.field, term, q.boost * weight)
        for q in queries
        if q.field in fields
        for term, weight in q.terms
    ]


def build_query(
    index_schema: tantivy.Schema,
    terms: Sequence[tuple[str, str, float]],
    filters: Sequence[Query] = (),
) -> Query | None:
    """One disjunction of boosted term queries, under the filter clauses (pure: no index needed)."""
    if not terms:
        return None
    should = Query.boolean_query(
        [
            (Occur.Should, Query.boost_query(Query.term_query(index_schema, field, term), boost))
            for field, term, boost in terms
        ]
    )
    if not filters:
        return should
    return Query.boolean_query([(Occur.Must, should)] + [(Occur.Must, f) for f in filters])


def open_index(path: Path) -> tuple[tantivy.Index, Path | None]:
    """Open the index in ``path``; a folder we may not write is opened through a private shadow folder.

    Tantivy's reader takes a lock file inside the index folder even to read (quickwit-oss/tantivy
    issue 557; tantivy-py has no read-only open), so a generation on a read-only mount or owned by
    another user cannot be opened in place. The shadow folder holds a symbolic link to each index
    file and its own lock files: the data is still read, memory-mapped, from ``path``. Returns the
    index and the shadow folder (None when opened in place); the caller removes the shadow.
    """
    if not tantivy.Index.exists(str(path)):
        raise FileNotFoundError(f"no tantivy index in {path}")
    try:
        return tantivy.Index.open(str(path)), None
    except ValueError as exc:
        if "Lockfile" not in str(exc):
            raise
    shadow = Path(tempfile.mkdtemp(prefix="kb-tantivy-"))
    try:
        for item in path.resolve().iterdir():
            if not item.name.startswith(".tantivy-"):  # the lock files: the shadow makes its own
                (shadow / item.name).symlink_to(item)
        return tantivy.Index.open(str(shadow)), shadow
    except BaseException:
        shutil.rmtree(shadow, ignore_errors=True)
        raise


def _key(address: Any) -> int:
    """A document address (segment, doc) as one int."""
    return int(address.segment_ord) << 32 | int(address.doc)


class TantivyEngine:
    """A tantivy index in one folder: written once by :meth:`add`/:meth:`commit`, then searched."""

    name = NAME

    def __init__(self, path: Path, fields: Sequence[FieldSpec], create: bool = False):
        self.path = path
        if create:
            path.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(schema(fields), path=str(path), reuse=False)
        else:
            self._index, shadow = open_index(path)
            if shadow is not None:
                self._remove_shadow = weakref.finalize(self, shutil.rmtree, shadow, True)
        self._index.config_reader(reload_policy="manual")  # generations never change under a reader
        self._schema = self._index.schema
        self._text_fields = text_fields(
            self._schema, [spec.name for spec in fields] + [SIGNATURE_FIELD]
        )
        self._fresh = create  # nothing to replace yet: adds need no delete-by-id
        self._added: set[str] = set()
        self._writer: Any = None
        self._searcher: Any = None
        self._stats: tuple[int, int] | None = None
        self._ids: dict[int, str] | None = None
        self._df_cache: dict[tuple[str, str], tuple[int, int]] = {}

    _remove_shadow: Any = None

    # -- writing ---------------------------------------------------------------------------
    def _ensure_writer(self) -> Any:
        if self._writer is None:
            # One thread: documents keep their insertion order, so ties rank as in whoosh.
            self._writer = self._index.writer(heap_size=_HEAP_BYTES, num_threads=1)
        return self._writer

    def add(self, docs: Iterable[LexicalDoc]) -> None:
        writer = self._ensure_writer()
        for doc in docs:
            if not self._fresh or doc.case_id in self._added:
                writer.delete_documents_by_term("id", doc.case_id)  # update by id, as whoosh does
            self._added.add(doc.case_id)
            writer.add_document(self._document(doc))

    def _document(self, doc: LexicalDoc) -> tantivy.Document:
        out = tantivy.Document()
        out.add_text("id", doc.case_id)
        out.add_text(_MARKER_FIELD, _MARKER)
        for field, value in (
            ("product", doc.product),
            ("component", doc.component),
            ("status", doc.status),
            ("visibility", doc.visibility),
        ):
            if value:
                out.add_text(field, value)
        for field, values in (("tags", doc.tags), ("versions", doc.versions)):
            for value in values:
                if value.strip():  # whoosh's comma keywords strip each value
                    out.add_text(field, value.strip())
        created = date_key(doc.created)
        if created is not None:
            out.add_integer("created", created)
        for name, tokens in doc.tokens.items():
            if name in self._text_fields and tokens:
                out.add_text(name, " ".join(tokens))
        return out

    def delete(self, case_ids: Iterable[str]) -> None:
        writer = self._ensure_writer()
        for case_id in case_ids:
            writer.delete_documents_by_term("id", case_id)
            self._added.discard(case_id)

    def commit(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.commit()
            writer.garbage_collect_files()
            writer.wait_merging_threads()  # releases the writer lock; the folder is final
            self._fresh = False
            self._index.reload()
        self._searcher = None
        self._stats = None
        self._ids = None
        self._df_cache = {}

    # -- reading ---------------------------------------------------------------------------
    def _search_handle(self) -> Any:
        if self._searcher is None:
            self._searcher = self._index.searcher()
        return self._searcher

    def _statistics(self) -> tuple[int, int]:
        """(live documents, documents tantivy's statistics count: deleted ones included)."""
        if self._stats is None:
            searcher = self._search_handle()
            self._stats = (int(searcher.num_docs), int(searcher.doc_freq(_MARKER_FIELD, _MARKER)))
        return self._stats

    def _frequencies(
        self, searcher: Any, field: str, term: str, has_deletes: bool
    ) -> tuple[int, int]:
        """(raw, live) document frequency of a term, cached: choosing a long query's terms and
        weighting them ask for the same ones, and the index never changes once opened."""
        key = (field, term)
        cached = self._df_cache.get(key)
        if cached is None:
            raw = int(searcher.doc_freq(field, term))
            cached = (raw, self._live_df(searcher, field, term, raw, has_deletes))
            if len(self._df_cache) >= DF_CACHE:
                self._df_cache.clear()
            self._df_cache[key] = cached
        return cached

    def _live_df(self, searcher: Any, field: str, term: str, raw_df: int, has_deletes: bool) -> int:
        if not has_deletes or raw_df == 0:
            return raw_df
        return int(
            searcher.search(Query.term_query(self._schema, field, term), 1, count=True).count
        )

    def _parity_terms(
        self, searcher: Any, terms: list[tuple[str, str, float]]
    ) -> list[tuple[str, str, float]]:
        """Each boost times ``idf_whoosh / idf_tantivy`` (see the module docstring)."""
        live, counted = self._statistics()
        has_deletes = live != counted
        out = []
        for field, term, boost in terms:
            raw, df = self._frequencies(searcher, field, term, has_deletes)
            if raw == 0:
                continue  # matches nothing
            out.append((field, term, boost * whoosh_idf(df, live) / tantivy_idf(raw, counted)))
        return out

    def search(
        self, queries: Sequence[FieldQuery], filters: Filters, limit: int, with_matched: bool = True
    ) -> list[LexicalHit]:
        terms = weighted_terms(queries, self._text_fields)
        if not terms or limit < 1:
            return []
        searcher = self._search_handle()
        present = self._parity_terms(searcher, terms)
        built = build_query(self._schema, present, filter_clauses(self._schema, filters))
        if built is None:
            return []
        found = searcher.search(built, limit, count=False).hits
        ids = {
            (address.segment_ord, address.doc): searcher.doc(address)["id"][0]
            for _, address in found
        }
        matched = (
            self._matched_terms(searcher, ids, [(field, term) for field, term, _ in present])
            if with_matched
            else {}
        )
        return [
            LexicalHit(ids[key], float(score), matched.get(key, ()))
            for score, key in (
                (score, (address.segment_ord, address.doc)) for score, address in found
            )
        ]

    def _matched_terms(
        self, searcher: Any, ids: dict[tuple[int, int], str], pairs: list[tuple[str, str]]
    ) -> dict[tuple[int, int], tuple[str, ...]]:
        """ "field:term" of the query pairs each hit contains, probed as bitmask scores (module docstring)."""
        distinct = list(dict.fromkeys(pairs))
        found: dict[tuple[int, int], list[str]] = {key: [] for key in ids}
        if not ids:
            return {}
        scope = _score_nothing(any_of(self._schema, "id", ids.values()))
        for start in range(0, len(distinct), _MATCH_BITS):
            chunk = distinct[start : start + _MATCH_BITS]
            names = [f"{field}:{term}" for field, term in chunk]
            probe = Query.boolean_query(
                [
                    (
                        Occur.Should,
                        Query.const_score_query(
                            Query.term_query(self._schema, field, term), float(1 << bit)
                        ),
                    )
                    for bit, (field, term) in enumerate(chunk)
                ]
            )
            for score, address in searcher.search(
                Query.boolean_query([(Occur.Must, probe), (Occur.Must, scope)]),
                len(ids),
                count=False,
            ).hits:
                mask, into = int(score), found[(address.segment_ord, address.doc)]
                while mask:
                    low = mask & -mask
                    into.append(names[low.bit_length() - 1])
                    mask ^= low
        return {key: tuple(sorted(terms)) for key, terms in found.items()}

    def doc_frequencies(self, field: str, terms: Iterable[str]) -> dict[str, int]:
        searcher = self._search_handle()
        if field not in self._text_fields:
            return {t: 0 for t in terms}
        live, counted = self._statistics()
        return {t: self._frequencies(searcher, field, t, live != counted)[1] for t in terms}

    def doc_count(self) -> int:
        return int(self._search_handle().num_docs)

    def matching_ids(self, filters: Filters, among: Iterable[str] | None = None) -> set[str]:
        """Case ids passing the filters, optionally only among ``among`` (restricts the dense leg)."""
        clauses = filter_clauses(self._schema, filters)
        if among is not None:
            among = [str(cid) for cid in among]
            if not among:
                return set()
            clauses.append(any_of(self._schema, "id", among))
        searcher = self._search_handle()
        total = int(searcher.num_docs)
        if total == 0:
            return set()
        if among is not None:  # a few ids: read them from the store
            query = Query.boolean_query([(Occur.Must, c) for c in clauses])
            return {
                searcher.doc(address)["id"][0]
                for _, address in searcher.search(query, total, count=False).hits
            }
        table = self._id_table(searcher)
        if not clauses:
            return set(table.values())
        query = Query.boolean_query([(Occur.Must, c) for c in clauses])
        return {
            table[_key(address)] for _, address in searcher.search(query, total, count=False).hits
        }

    def _id_table(self, searcher: Any) -> dict[int, str]:
        """Every live document's id by address, read once per searcher: a filter of the dense leg
        passes most of the corpus, and reading 40,000 ids from the store takes 27 ms, this 3 ms."""
        if self._ids is None:
            hits = searcher.search(
                Query.all_query(), max(1, int(searcher.num_docs)), count=False
            ).hits
            self._ids = {_key(address): searcher.doc(address)["id"][0] for _, address in hits}
        return self._ids

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.rollback()
            writer.wait_merging_threads()
        self._searcher = None
        self._stats = None
        self._ids = None
        if self._remove_shadow is not None:
            self._remove_shadow()  # the open files stay readable: their links go, not the data
