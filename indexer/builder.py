"""Building a generation from the store: lexical index, chunk vectors, manifest; verify; publish."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from indexer import generation as gen
from indexer.engines import lexical_engine
from indexer.filters import Filters
from indexer.fusion import resolve_weights
from indexer.lexical import build_queries, case_document, profile
from kb.case import Case
from kb.errors import KBError
from kb.settings import Settings
from kb.store import Store

log = logging.getLogger(__name__)
CHUNKS_FILE = "chunks.json"
CATALOG_FILE = "cases.json"
Progress = Callable[[str], None] | None


@dataclass
class BuildResult:
    generation: str
    case_count: int
    chunk_count: int
    embedded: int
    reused: int
    seconds: float
    pruned: list[str] = field(default_factory=list)


def embed_chunks(store: Store, encoder: "object", chunks: list[tuple[str, str, str, str]],
                 progress: Progress = None) -> tuple[np.ndarray, int]:
    """Vectors for every chunk, reusing the (model, text hash) cache; returns (vectors, newly embedded)."""
    name, dim = encoder.name, encoder.dim  # type: ignore[attr-defined]
    hashes = [c[3] for c in chunks]
    cached = store.cached_embeddings(name, hashes)
    missing = {h: text for _, _, text, h in chunks if h not in cached}
    if missing:
        order = sorted(missing, key=lambda h: len(missing[h]))  # batch by length: less padding
        batch = 256
        for start in range(0, len(order), batch):
            part = order[start:start + batch]
            vectors = encoder.encode([missing[h] for h in part])  # type: ignore[attr-defined]
            fresh = {h: v.astype(np.float32).tobytes() for h, v in zip(part, vectors)}
            store.save_embeddings(name, dim, fresh)
            cached.update(fresh)
            if progress:
                progress(f"embedded {min(start + batch, len(order))}/{len(order)} chunks")
    matrix = np.zeros((len(chunks), dim), dtype=np.float32)
    for row, h in enumerate(hashes):
        matrix[row] = np.frombuffer(cached[h], dtype=np.float32)
    return matrix, len(missing)


def content_digest(cases: list[Case]) -> str:
    digest = hashlib.sha256()
    for case in sorted(cases, key=lambda c: c.id):
        digest.update(f"{case.id}:{case.content_hash}\n".encode())
    return digest.hexdigest()


def source_commit(cases_dir: Path) -> str | None:
    """The cases folder's git commit, when it is a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(cases_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def verify(folder: Path, manifest: gen.Manifest, cases: list[Case]) -> None:
    """Reopen what was written and check counts and a smoke query; raises KBError on mismatch."""
    from indexer.dense import VectorIndex

    fields = profile(manifest.field_profile)
    engine = lexical_engine(manifest.lexical_engine, folder / "lexical", fields)
    try:
        if engine.doc_count() != manifest.case_count:
            raise KBError(f"verification failed: lexical index holds {engine.doc_count()} cases, expected {manifest.case_count}")
        vectors = VectorIndex.load(folder)
        if vectors.size != manifest.chunk_count:
            raise KBError(f"verification failed: vector index holds {vectors.size} chunks, expected {manifest.chunk_count}")
        if cases:
            probe = cases[0]
            queries = build_queries(probe.title, fields, engine.doc_frequencies, engine.doc_count(), 32)
            hits = engine.search(queries, Filters(), 50)
            if probe.id not in {h.case_id for h in hits}:
                raise KBError(f"verification failed: smoke query for '{probe.title}' did not find {probe.id}")
    finally:
        engine.close()


def build_generation(settings: Settings, store: Store, encoder: "object", progress: Progress = None,
                     field_profile: str = "standard") -> BuildResult:
    """Write a complete new generation, verify it, publish it and prune old ones."""
    started = time.monotonic()
    index_dir = settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    gen.clean_partials(index_dir)
    cases = store.all_cases()
    chunks = store.all_chunks()
    name = gen.next_generation_name(index_dir)
    partial = index_dir / f"{name}.partial"
    try:
        fields = profile(field_profile)
        engine = lexical_engine(settings.lexical_engine, partial / "lexical", fields, create=True)
        try:
            engine.add(case_document(c, fields) for c in cases)
            engine.commit()
        finally:
            engine.close()
        if progress:
            progress(f"lexical index: {len(cases)} cases")
        vectors, embedded = embed_chunks(store, encoder, chunks, progress)
        write_vectors(partial, vectors, chunks)
        write_catalog(partial, cases)
        manifest = gen.Manifest(
            generation=name, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            lexical_engine=settings.lexical_engine, field_profile=field_profile,
            model=encoder.name, dimension=encoder.dim,  # type: ignore[attr-defined]
            fusion_weights=resolve_weights(encoder.name, settings.fusion_weights), rrf_k=settings.rrf_k,  # type: ignore[attr-defined]
            case_count=len(cases), chunk_count=len(chunks), content_digest=content_digest(cases),
            source_commit=source_commit(settings.cases_dir),
        )
        (partial / gen.MANIFEST).write_text(manifest.to_json(), "utf-8")
        verify(partial, manifest, cases)
        gen.finish_partial(index_dir, partial, name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    gen.publish(index_dir, name)
    pruned = gen.prune(index_dir, settings.keep_generations)
    log.info("published %s (%d cases, %d chunks)", name, len(cases), len(chunks))
    return BuildResult(name, len(cases), len(chunks), embedded, len(chunks) - embedded, time.monotonic() - started, pruned)


def write_catalog(folder: Path, cases: list[Case]) -> None:
    """Per-case facts the searcher needs without the store: content hash and declared related cases."""
    catalog = {c.id: {"hash": c.content_hash, "related": list(c.related)} for c in cases}
    (folder / CATALOG_FILE).write_text(json.dumps(catalog, ensure_ascii=False), "utf-8")


def read_catalog(folder: Path) -> dict[str, dict[str, object]]:
    return json.loads((folder / CATALOG_FILE).read_text("utf-8"))  # type: ignore[no-any-return]


def write_vectors(folder: Path, vectors: np.ndarray, chunks: list[tuple[str, str, str, str]]) -> None:
    from indexer.dense import VectorIndex

    folder.mkdir(parents=True, exist_ok=True)
    VectorIndex.build(vectors).save(folder)
    rows = [{"case_id": c[0], "section": c[1]} for c in chunks]
    (folder / CHUNKS_FILE).write_text(json.dumps(rows, ensure_ascii=False), "utf-8")
