"""The whoosh lexical engine (BM25F). The only module in the product that imports whoosh.

Documents arrive already analysed (see :mod:`indexer.analysis`), so every text field uses a
whitespace tokenizer and whoosh never re-analyses; queries are built as query objects, never
parsed from user text, so no input can raise a query-syntax error.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as wq
from whoosh.analysis import SpaceSeparatedTokenizer
from whoosh.fields import ID, KEYWORD, TEXT, Schema
from whoosh.scoring import BM25F

from indexer.filters import Filters
from indexer.lexical import SIGNATURE_FIELD, FieldQuery, FieldSpec, LexicalDoc, LexicalHit

NAME = "whoosh"
_FILTER_FIELDS = ("product", "component", "status", "visibility", "created")


def _schema(fields: Sequence[FieldSpec]) -> Schema:
    tokenizer = SpaceSeparatedTokenizer()
    schema = Schema(
        id=ID(stored=True, unique=True),
        tags=KEYWORD(commas=True),
        versions=KEYWORD(commas=True),
        **{name: ID() for name in _FILTER_FIELDS},
    )
    for spec in fields:
        schema.add(spec.name, TEXT(analyzer=tokenizer, phrase=False))
    schema.add(SIGNATURE_FIELD, TEXT(analyzer=tokenizer, phrase=False))
    return schema


def _filter_query(filters: Filters) -> wq.Query | None:
    parts: list[wq.Query] = []
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
            parts.append(wq.Or([wq.Term(field, v) for v in values]))
    if filters.created_from or filters.created_to:
        start = filters.created_from.isoformat() if filters.created_from else None
        end = filters.created_to.isoformat() if filters.created_to else None
        parts.append(wq.TermRange("created", start, end))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else wq.And(parts)


def build_query(queries: Sequence[FieldQuery]) -> wq.Query | None:
    """One disjunction of weighted terms over all fields (pure: no index needed)."""
    terms = [
        wq.Term(q.field, term, boost=q.boost * weight) for q in queries for term, weight in q.terms
    ]
    return wq.Or(terms) if terms else None


class WhooshEngine:
    """A whoosh index in one folder: written once by :meth:`add`/:meth:`commit`, then searched."""

    name = NAME

    def __init__(self, path: Path, fields: Sequence[FieldSpec], create: bool = False):
        self.path = path
        if create:
            path.mkdir(parents=True, exist_ok=True)
            self._index = whoosh_index.create_in(str(path), _schema(fields))
        else:
            self._index = whoosh_index.open_dir(str(path))
        self._writer = None
        self._local = threading.local()  # this thread's searcher (_search_handle)
        self._searchers: list = []  # (thread, its searcher): closed together, or when the thread ends
        self._searchers_lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------
    def _ensure_writer(self):
        if self._writer is None:
            self._writer = self._index.writer(limitmb=256)
        return self._writer

    def add(self, docs: Iterable[LexicalDoc]) -> None:
        writer = self._ensure_writer()
        # update_document does not see documents buffered in the same writer: the last one per id wins here
        for doc in {d.case_id: d for d in docs}.values():
            fields = {name: " ".join(tokens) for name, tokens in doc.tokens.items()}
            writer.update_document(
                id=doc.case_id,
                product=doc.product,
                component=doc.component,
                status=doc.status,
                visibility=doc.visibility,
                created=doc.created,
                tags=",".join(doc.tags),
                versions=",".join(doc.versions),
                **fields,
            )

    def delete(self, case_ids: Iterable[str]) -> None:
        writer = self._ensure_writer()
        for case_id in case_ids:
            writer.delete_by_term("id", case_id)

    def commit(self) -> None:
        if self._writer is not None:
            self._writer.commit(optimize=True)
            self._writer = None
        self._close_searchers()

    # -- reading ---------------------------------------------------------------------------
    def _search_handle(self):
        """This thread's searcher. A whoosh searcher reads its files through shared file objects
        (seek, then read), so two threads searching with one corrupt each other's reads (seen as
        unpickling and zlib errors under load: ``scripts/churn_check.py``): each thread opens its own."""
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self._local.searcher = self._index.searcher(weighting=BM25F())
            with self._searchers_lock:
                # a server that runs each request in a thread of its own (kb serve) would otherwise
                # keep every finished thread's searcher open: about 6 MB and a file each
                ended = [s for owner, s in self._searchers if not owner.is_alive()]
                self._searchers = [(o, s) for o, s in self._searchers if o.is_alive()]
                self._searchers.append((threading.current_thread(), searcher))
            for old in ended:  # their threads are gone: nobody reads with them any more
                old.close()
        return searcher

    def _close_searchers(self) -> None:
        with self._searchers_lock:
            opened, self._searchers = self._searchers, []
            self._local = threading.local()
        for _, searcher in opened:
            searcher.close()

    def search(
        self, queries: Sequence[FieldQuery], filters: Filters, limit: int, with_matched: bool = True
    ) -> list[LexicalHit]:
        built = build_query(queries)
        if built is None:
            return []
        searcher = self._search_handle()
        # optimize=False: whoosh's block-max pruning costs more than it saves on wide OR queries (measured: -25%)
        results = searcher.search(
            built, limit=limit, filter=_filter_query(filters), terms=with_matched, optimize=False
        )
        hits = []
        for hit in results:
            matched = (
                tuple(
                    sorted(
                        {
                            f"{field}:{term.decode('utf-8') if isinstance(term, bytes) else term}"
                            for field, term in (hit.matched_terms() or [])
                        }
                    )
                )
                if with_matched
                else ()
            )
            hits.append(LexicalHit(hit["id"], float(hit.score), matched))
        return hits

    def doc_frequencies(self, field: str, terms: Iterable[str]) -> dict[str, int]:
        searcher = self._search_handle()
        return {t: searcher.doc_frequency(field, t) for t in terms}

    def doc_count(self) -> int:
        return int(self._search_handle().doc_count())

    def matching_ids(self, filters: Filters, among: Iterable[str] | None = None) -> set[str]:
        """Case ids passing the filters, optionally only among ``among`` (restricts the dense leg)."""
        built = _filter_query(filters)
        searcher = self._search_handle()
        if among is not None:
            among = list(among)
            scope = wq.Or([wq.Term("id", cid) for cid in among]) if among else wq.NullQuery
            built = scope if built is None else wq.And([scope, built])
        if built is None:
            return {fields["id"] for fields in searcher.all_stored_fields()}
        return {searcher.stored_fields(n)["id"] for n in built.docs(searcher)}

    def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._close_searchers()
