"""Building a generation from the store: plan (none / incremental / full), write, verify, publish.

An incremental build copies the live generation's lexical index and applies only the cases
whose content hash changed; vectors always come from the (model, text hash) embedding cache,
so unchanged text is never embedded again. Everything is written under ``gen-N.partial`` and
published only after verification.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer import generation as gen
from indexer import learned_leg
from indexer.dense import VectorIndex, has_sparse_head, precision_for
from indexer.documents import documents
from indexer.engines import lexical_engine, resolve_engine
from indexer.filters import Filters
from indexer.fusion import default_method, has_leg, resolve_weights
from indexer.lexical import build_queries, profile
from indexer.reuse import (
    CHUNKS_FILE,
    HASHES_FILE,
    MAX_REMOVED,
    index_how,
    link_files,
    plan_append,
    read_rows,
    vector_key,
    write_rows,
)
from kb import phrasings
from kb.case import Case
from kb.parse import PARSE_VERSION

if TYPE_CHECKING:
    from indexer.sparse_index import SparseIndex
from kb.errors import KBError
from kb.settings import Settings
from kb.store import Store

log = logging.getLogger(__name__)
CATALOG_FILE = "cases.json"
Progress = Callable[[str], None] | None


@dataclass
class BuildPlan:
    """What a run must do and why."""

    mode: str  # "none" | "incremental" | "full"
    reason: str
    upsert: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    base: Path | None = None
    engine: str = (
        ""  # the lexical engine the build writes ("" : resolved from the settings when building)
    )
    engine_reason: str = ""


@dataclass
class BuildResult:
    generation: str
    mode: str
    case_count: int
    chunk_count: int
    embedded: int
    reused: int
    seconds: float
    pruned: list[str] = field(default_factory=list)
    lexical_engine: str = ""


def plan_build(
    settings: Settings,
    store: Store,
    model: str,
    full: bool = False,
    field_profile: str = "standard",
) -> BuildPlan:
    """Compare the store with the live generation's catalog and settings."""
    hashes = store.case_hashes()
    try:
        live = gen.current_dir(settings.index_dir)
        manifest = gen.Manifest.read(live)
        catalog = read_catalog(live)
    except (KBError, OSError, ValueError):
        engine, engine_reason = resolve_engine(settings.lexical_engine, len(hashes))
        return BuildPlan(
            "full", "no usable live generation", engine=engine, engine_reason=engine_reason
        )
    engine, engine_reason = resolve_engine(
        settings.lexical_engine, len(hashes), manifest.lexical_engine
    )
    if full:
        return BuildPlan(
            "full", "full rebuild requested", engine=engine, engine_reason=engine_reason
        )
    if engine != manifest.lexical_engine:
        log.info(
            "lexical engine %s -> %s (%s): full build",
            manifest.lexical_engine,
            engine,
            engine_reason,
        )
        return BuildPlan(
            "full",
            f"lexical engine {manifest.lexical_engine} -> {engine} ({engine_reason})",
            engine=engine,
            engine_reason=engine_reason,
        )
    if "learned" not in manifest.extra:
        return BuildPlan(
            "full",
            "the index gains the learned phrasings field",
            engine=engine,
            engine_reason=engine_reason,
        )
    plan = _plan_against_live(settings, model, field_profile, hashes, manifest, catalog, live)
    learned = phrasings.changed_cases(store, settings, manifest.extra["learned"], hashes) - set(
        plan.upsert
    )
    if (
        learned and plan.mode != "full"
    ):  # the cases whose learned phrasings changed are written again (kb.phrasings)
        plan = BuildPlan(
            "incremental",
            f"{plan.reason}; learned phrasings of {len(learned)} changed",
            sorted({*plan.upsert, *learned}),
            plan.delete,
            live,
        )
    plan.engine, plan.engine_reason = (
        manifest.lexical_engine,
        f"the live engine kept ({engine_reason})",
    )
    return plan


def _plan_against_live(
    settings: Settings,
    model: str,
    field_profile: str,
    hashes: dict[str, str],
    manifest: gen.Manifest,
    catalog: dict[str, dict[str, Any]],
    live: Path,
) -> BuildPlan:
    """The plan when a live generation exists and its lexical engine stays: what else forces a
    full build, or what changed."""
    if manifest.model != model:
        return BuildPlan(
            "full", f"model changed ({manifest.model} -> {model}): every chunk is embedded again"
        )
    precision = precision_for(settings, model)
    if manifest.extra.get("embed_precision", "float32") != precision:
        return BuildPlan(
            "full",
            f"embedding precision changed ({manifest.extra.get('embed_precision', 'float32')} -> "
            f"{precision}): every chunk is embedded again",
        )
    if manifest.extra.get("parse_version") != PARSE_VERSION:
        return BuildPlan(
            "full",
            f"case parsing changed (version {manifest.extra.get('parse_version', 1)} -> "
            f"{PARSE_VERSION}): every case is analysed again",
        )
    if manifest.field_profile != field_profile:
        return BuildPlan("full", "field profile changed")
    if bool(manifest.extra.get("sparse_leg")) != bool(
        settings.sparse_leg and has_sparse_head(model)
    ):
        return BuildPlan("full", "sparse leg switched " + ("on" if settings.sparse_leg else "off"))
    upsert = sorted(cid for cid, h in hashes.items() if catalog.get(cid, {}).get("hash") != h)
    delete = sorted(cid for cid in catalog if cid not in hashes)
    tuned = (
        manifest.fusion_weights != resolve_weights(model, settings.fusion_weights)
        or manifest.rrf_k != settings.rrf_k
        or manifest.extra.get("fusion_method", "rrf")
        != default_method(model, settings.fusion_method)
    )
    if not upsert and not delete and not tuned:
        return BuildPlan("none", "live generation is up to date")
    return BuildPlan(
        "incremental",
        f"{len(upsert)} changed, {len(delete)} deleted"
        + (", fusion settings changed" if tuned else ""),
        upsert,
        delete,
        live,
    )


def embed_chunks(
    store: Store, encoder: Any, chunks: list[tuple[str, str, str, str]], progress: Progress = None
) -> tuple[np.ndarray, int]:
    """Vectors for every chunk, reusing the (model, text hash) cache; returns (vectors, newly embedded)."""
    name = getattr(encoder, "cache_key", encoder.name)
    hashes = [c[3] for c in chunks]
    cached = store.cached_embeddings(name, hashes)
    missing = {h: text for _, _, text, h in chunks if h not in cached}
    # The model is loaded only when something must be embedded.
    dim = encoder.dim if missing or not cached else len(next(iter(cached.values()))) // 4
    if missing:
        order = sorted(missing, key=lambda h: len(missing[h]))  # batch by length: less padding
        batch = 256
        with _CacheWriter(store, name, dim) as writer:  # the encoder never waits for the store
            for start in range(0, len(order), batch):
                part = order[start : start + batch]
                vectors = encoder.encode([missing[h] for h in part])
                fresh = {h: v.astype(np.float32).tobytes() for h, v in zip(part, vectors)}
                writer.put(fresh)
                cached.update(fresh)
                if progress:
                    progress(f"embedded {min(start + batch, len(order))}/{len(order)} chunks")
    if not chunks:
        return np.zeros((0, dim), dtype=np.float32), 0
    matrix = (
        np.frombuffer(b"".join(cached[h] for h in hashes), dtype=np.float32)
        .reshape(len(chunks), dim)
        .copy()
    )
    return matrix, len(missing)


class _CacheWriter:
    """Writes batches of fresh vectors to the embedding cache in a thread of its own (multi-row
    inserts), so that the encoder goes on with the next batch meanwhile; at most two batches wait.
    A failed write is raised when the writer is closed."""

    def __init__(self, store: Store, model: str, dim: int):
        self._store, self._model, self._dim = store, model, dim
        self._queue: queue.Queue[dict[str, bytes] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="embedding-cache-writer", daemon=True
        )

    def __enter__(self) -> _CacheWriter:
        self._thread.start()
        return self

    def put(self, fresh: dict[str, bytes]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(fresh)

    def _run(self) -> None:
        while (fresh := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._store.save_embeddings_bulk(self._model, self._dim, fresh)
                except BaseException as exc:  # noqa: BLE001  (raised in the encoding thread)
                    self._error = exc

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error


def sparse_texts(chunks: list[tuple[str, str, str, str]]) -> dict[str, tuple[str, str]]:
    """One (text, hash) per case for the sparse leg: its first symptoms chunk (title, heading and
    the customer-facing description), else its first chunk; cases in the order the chunks list them."""
    first: dict[str, tuple[str, str]] = {}
    symptoms: dict[str, tuple[str, str]] = {}
    for case_id, section, text, text_hash in chunks:
        first.setdefault(case_id, (text, text_hash))
        if section == "symptoms":
            symptoms.setdefault(case_id, (text, text_hash))
    return {cid: symptoms.get(cid, first[cid]) for cid in first}


def build_sparse(
    store: Store, encoder: Any, chunks: list[tuple[str, str, str, str]], progress: Progress = None
) -> SparseIndex | None:
    """The sparse leg's index (None when the encoder has no sparse head), vectors reused from the
    embedding cache under ``<model>#sparse``, so unchanged cases are never encoded again."""
    from indexer.sparse_index import SparseIndex, from_bytes, to_bytes

    dim = int(getattr(encoder, "sparse_dim", 0) or 0)
    if not dim:
        return None
    texts = sparse_texts(chunks)
    name = f"{getattr(encoder, 'cache_key', encoder.name)}#sparse"
    cached = store.cached_embeddings(name, [h for _, h in texts.values()])
    missing = {h: text for text, h in texts.values() if h not in cached}
    order = sorted(missing, key=lambda h: len(missing[h]))
    for start in range(0, len(order), 64):
        part = order[start : start + 64]
        fresh = {
            h: to_bytes(v) for h, v in zip(part, encoder.encode_sparse([missing[h] for h in part]))
        }
        store.save_embeddings_bulk(name, dim, fresh)
        cached.update(fresh)
        if progress:
            progress(f"sparse vectors {min(start + 64, len(order))}/{len(order)} cases")
    case_ids = list(texts)
    return SparseIndex.build([from_bytes(cached[texts[cid][1]]) for cid in case_ids], case_ids, dim)


def content_digest(catalog: dict[str, dict[str, Any]]) -> str:
    digest = hashlib.sha256()
    for cid in sorted(catalog):
        digest.update(f"{cid}:{catalog[cid]['hash']}\n".encode())
    return digest.hexdigest()


def source_commit(cases_dir: Path) -> str | None:
    """The cases folder's git commit, when it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "-C", str(cases_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def verify(folder: Path, manifest: gen.Manifest, probe: Case | None) -> None:
    """Reopen what was written and check counts and a smoke query; raises KBError on mismatch."""
    from indexer.dense import VectorIndex

    fields = profile(manifest.field_profile)
    engine = lexical_engine(manifest.lexical_engine, folder / "lexical", fields)
    try:
        if engine.doc_count() != manifest.case_count:
            raise KBError(
                f"verification failed: lexical index holds {engine.doc_count()} cases, expected {manifest.case_count}"
            )
        vectors = VectorIndex.load(folder)
        rows = int(manifest.extra.get("vector_rows") or manifest.chunk_count)
        if vectors.size != rows:
            raise KBError(
                f"verification failed: vector index holds {vectors.size} rows, expected {rows}"
            )
        try:
            learned = learned_leg.LearnedVectors.load(folder)
        except (OSError, ValueError) as exc:
            raise KBError(f"verification failed: the learned leg cannot be read ({exc})") from exc
        expected = int(manifest.extra.get("learned_vectors") or 0)
        if (learned.size if learned is not None else 0) != expected:
            raise KBError(
                f"verification failed: the learned leg holds {learned.size if learned else 0} "
                f"phrasings, expected {expected}"
            )
        if learned is not None and learned.size and learned.matrix.shape[1] != manifest.dimension:
            raise KBError(
                f"verification failed: the learned leg's vectors have {learned.matrix.shape[1]} "
                f"dimensions, the model {manifest.dimension}"
            )
        if probe is not None:
            queries = build_queries(
                probe.title, fields, engine.doc_frequencies, engine.doc_count(), 32
            )
            hits = engine.search(queries, Filters(), 50)
            if probe.id not in {h.case_id for h in hits}:
                raise KBError(
                    f"verification failed: smoke query for '{probe.title}' did not find {probe.id}"
                )
    finally:
        engine.close()


def _write_lexical(
    store: Store,
    plan: BuildPlan,
    target: Path,
    field_profile: str,
    learned: dict[str, list[str]] | None = None,
) -> Case | None:
    """Fill ``target`` with ``plan.engine``'s index (full: every case; incremental: a copy of the
    live index plus the changes)."""
    fields = profile(field_profile)
    if plan.mode == "incremental" and plan.base is not None:
        shutil.copytree(plan.base / "lexical", target)
        engine = lexical_engine(plan.engine, target, fields)
        cases = list(store.get_cases(plan.upsert).values())
        engine.delete(plan.delete)
    else:
        engine = lexical_engine(plan.engine, target, fields, create=True)
        cases = store.all_cases()
    try:
        engine.add(documents(cases, fields, learned or {}))
        engine.commit()
    finally:
        engine.close()
    return cases[0] if cases else None


class _Background:
    """A function run in a thread beside the encoder (the lexical index: parsing-side Python work
    while the encoder computes in C); :meth:`result` waits and re-raises what it raised."""

    def __init__(self, fn: Callable[..., Any], *args: Any):
        self._result: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._result = fn(*args)
            except BaseException as exc:  # noqa: BLE001  (re-raised by result())
                self._error = exc

        self._thread = threading.Thread(target=run, name="lexical-index", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result

    def wait(self) -> None:
        """Wait without raising (before a failed build's folder is removed)."""
        self._thread.join()


def _friendly_os_error(exc: OSError, live: str | None) -> KBError:
    reason = {
        errno.ENOSPC: "no space left on device",
        errno.EACCES: "permission denied",
        errno.EROFS: "read-only file system",
        errno.EDQUOT: "disk quota exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    where = f" ({exc.filename})" if exc.filename else ""
    return KBError(
        f"index build failed: {reason}{where}; the live generation {live or '(none)'} keeps serving"
    )


def build_generation(
    settings: Settings,
    store: Store,
    encoder: Any,
    progress: Progress = None,
    plan: BuildPlan | None = None,
    field_profile: str = "standard",
) -> BuildResult:
    """Write a new generation (as planned), verify it, publish it and prune old ones."""
    started = time.monotonic()
    plan = plan or BuildPlan("full", "full build")
    if not plan.engine:
        plan.engine, plan.engine_reason = resolve_engine(
            settings.lexical_engine, store.case_count()
        )
    index_dir = settings.index_dir
    live = gen.current_name(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        gen.clean_partials(index_dir)
        name = gen.next_generation_name(index_dir)
        partial = index_dir / f"{name}.partial"
        partial.mkdir()
    except OSError as exc:
        raise _friendly_os_error(exc, live) from exc
    lexical: _Background | None = None
    try:
        learned = phrasings.index_state(store, settings)
        lexical = _Background(
            _write_lexical, store, plan, partial / "lexical", field_profile, learned.texts
        )
        chunks = (
            store.all_chunks() + learned.chunks()
        )  # a learned phrasing is a vector of its case too
        model_key = getattr(encoder, "cache_key", encoder.name)
        key = vector_key(model_key, chunks, settings.ann_threshold, settings.ann_storage)
        how = index_how(len(chunks), settings.ann_threshold, settings.ann_storage)
        live_manifest = _live_manifest(index_dir, live)
        written = _link_vectors(index_dir, live, live_manifest, partial, key) or _extend_vectors(
            store,
            encoder,
            index_dir,
            live,
            live_manifest,
            partial,
            chunks,
            how,
            model_key,
            progress,
        )
        if written is None:
            vectors, embedded = embed_chunks(store, encoder, chunks, progress)
            kind = write_vectors(
                partial, vectors, chunks, settings.ann_threshold, settings.ann_storage
            )
            written = VectorsWritten(int(vectors.shape[1]), kind, embedded, len(chunks), None)
            del vectors
        elif progress:
            progress(f"vector index {written.source} from {live}")
        embedded = written.embedded
        sparse = build_sparse(store, encoder, chunks, progress) if settings.sparse_leg else None
        if sparse is not None:
            sparse.save(partial)
        weights = resolve_weights(encoder.name, settings.fusion_weights)
        learned_vectors = (  # written only where the leg has a weight (docs "Learning from support")
            learned_leg.write(partial, store, encoder, learned.texts)
            if has_leg(weights, "learned")
            else 0
        )
        probe = lexical.result()
        if progress:
            progress(f"lexical index written ({plan.mode}: {plan.reason})")
        catalog = store.case_catalog()
        for cid, codes in store.case_codes().items():
            if cid in catalog:
                catalog[cid]["codes"] = codes
        write_catalog(partial, catalog)
        manifest = gen.Manifest(
            generation=name,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            lexical_engine=plan.engine,
            field_profile=field_profile,
            model=encoder.name,
            dimension=written.dimension,
            fusion_weights=weights,
            rrf_k=settings.rrf_k,
            case_count=len(catalog),
            chunk_count=len(chunks),
            content_digest=content_digest(catalog),
            source_commit=source_commit(settings.cases_dir),
            extra={
                "build_mode": plan.mode,
                "lexical_engine_setting": settings.lexical_engine,
                "lexical_engine_reason": plan.engine_reason,
                "vector_index": written.kind,
                "vector_key": key,
                "vector_how": how,
                "vector_model": model_key,
                "vector_rows": written.rows,
                "vector_reused_from": live if written.source else None,
                "vector_reuse": written.source,
                "vector_storage": settings.ann_storage if written.kind == "hnsw" else "float32",
                "embed_precision": getattr(encoder, "precision", "float32"),
                "fusion_method": default_method(encoder.name, settings.fusion_method),
                "parse_version": PARSE_VERSION,
                "sparse_leg": {"dim": sparse.dim, "cases": sparse.size}
                if sparse is not None
                else None,
                "learned": learned.manifest_entry(),
                "learned_vectors": learned_vectors,
            },
        )
        (partial / gen.MANIFEST).write_text(manifest.to_json(), "utf-8")
        verify(partial, manifest, probe)
        gen.finish_partial(index_dir, partial, name)
        gen.publish(index_dir, name)
    except OSError as exc:
        lexical.wait() if lexical is not None else None
        shutil.rmtree(partial, ignore_errors=True)
        raise _friendly_os_error(exc, live) from exc
    except BaseException:
        lexical.wait() if lexical is not None else None
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pruned = gen.prune(index_dir, settings.keep_generations, settings.generation_grace_seconds)
    log.info(
        "published %s (%s, %d cases, %d chunks, %s: %s)",
        name,
        plan.mode,
        len(catalog),
        len(chunks),
        plan.engine,
        plan.engine_reason,
    )
    return BuildResult(
        name,
        plan.mode,
        len(catalog),
        len(chunks),
        embedded,
        len(chunks) - embedded,
        time.monotonic() - started,
        pruned,
        plan.engine,
    )


@dataclass
class VectorsWritten:
    """The vector index a build wrote: its dimension, kind, vectors embedded for it, rows (removed
    ones included) and how the live one was reused (None: written afresh)."""

    dimension: int
    kind: str
    embedded: int
    rows: int
    source: str | None  # "linked" | "extended" | None


def _live_manifest(index_dir: Path, live: str | None) -> gen.Manifest | None:
    if live is None:
        return None
    try:
        return gen.Manifest.read(index_dir / live)
    except (KBError, OSError, ValueError):
        return None


def _link_vectors(
    index_dir: Path, live: str | None, manifest: gen.Manifest | None, partial: Path, key: str
) -> VectorsWritten | None:
    """The live vector index linked into ``partial`` when it is the one this build would write
    (the same :func:`indexer.reuse.vector_key`)."""
    if manifest is None or live is None or manifest.extra.get("vector_key") != key:
        return None
    names = [VectorIndex.FILE, CHUNKS_FILE]
    if (index_dir / live / HASHES_FILE).is_file():
        names.append(HASHES_FILE)
    if not link_files(index_dir / live, partial, names):
        return None
    rows = int(manifest.extra.get("vector_rows") or manifest.chunk_count)
    kind = str(manifest.extra.get("vector_index", "flat"))
    return VectorsWritten(manifest.dimension, kind, 0, rows, "linked")


def _extend_vectors(
    store: Store,
    encoder: Any,
    index_dir: Path,
    live: str | None,
    manifest: gen.Manifest | None,
    partial: Path,
    chunks: list[tuple[str, str, str, str]],
    how: str,
    model_key: str,
    progress: Progress,
) -> VectorsWritten | None:
    """The live HNSW graph copied and extended with the new chunks, the rows of those gone
    removed (:mod:`indexer.reuse`); None when it cannot be (another model or way of building, an
    unreadable live index, too many removed rows): the caller writes the index afresh."""
    if (
        manifest is None
        or live is None
        or not how.startswith("hnsw")
        or manifest.extra.get("vector_how") != how
        or manifest.extra.get("vector_model") != model_key
    ):
        return None
    try:
        live_rows = read_rows(index_dir / live)
        index = VectorIndex.read_copy(index_dir / live)
    except (OSError, ValueError, RuntimeError):
        return None
    plan = plan_append(live_rows, chunks)
    if index.size != len(live_rows) or plan.removed > MAX_REMOVED * len(plan.rows):
        return None
    embedded = 0
    if plan.append:
        vectors, embedded = embed_chunks(store, encoder, [chunks[n] for n in plan.append], progress)
        if int(vectors.shape[1]) != manifest.dimension:
            return None
        index.add(vectors)
    index.save(partial)
    write_rows(partial, plan.rows)
    return VectorsWritten(manifest.dimension, "hnsw", embedded, len(plan.rows), "extended")


def write_catalog(folder: Path, catalog: dict[str, dict[str, Any]]) -> None:
    """Per-case facts the searcher needs without the store: content hash, declared related cases and
    error codes (canonical forms, for the exact-code tier)."""
    data = {
        cid: {
            "hash": info["hash"],
            "related": info["related"],
            "lang": info.get("lang", ""),
            "codes": list(dict.fromkeys(info.get("codes", ()))),
        }
        for cid, info in catalog.items()
    }
    (folder / CATALOG_FILE).write_text(json.dumps(data, ensure_ascii=False), "utf-8")


def read_catalog(folder: Path) -> dict[str, dict[str, Any]]:
    return json.loads((folder / CATALOG_FILE).read_text("utf-8"))


def write_vectors(
    folder: Path,
    vectors: np.ndarray,
    chunks: list[tuple[str, str, str, str]],
    ann_threshold: int = 200_000,
    ann_storage: str = "sq8",
) -> str:
    """Write the vector index and the row -> (case, section) map; returns the index kind."""
    folder.mkdir(parents=True, exist_ok=True)
    index = VectorIndex.build(vectors, ann_threshold, ann_storage)
    index.save(folder)
    # a graph later builds may extend keeps each row's identity (text hash) too
    write_rows(folder, [(c[0], c[1], c[3]) for c in chunks], hashes=index.kind == "hnsw")
    return index.kind
