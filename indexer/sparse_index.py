"""The sparse leg: one learned sparse vector per case ("latent terms" of the encoder's sparse
head: thousands of dimensions, a few hundred non-zero), searched by dot product.

The latent terms are shared across languages, so a Japanese query and the English case of the
same problem meet on them where their words cannot. Vectors are stored column-wise (CSC: one
column per latent term), so a query touches only the columns of its own terms; the three arrays
are memory-mapped, so web workers on one host share them through the page cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SparseVector = tuple[np.ndarray, np.ndarray]  # (int32 indices, float32 values)
FILES = ("sparse-data.npy", "sparse-indices.npy", "sparse-indptr.npy")
META = "sparse.json"


def to_bytes(vector: SparseVector) -> bytes:
    """A sparse vector as bytes for the embedding cache: the indices, then the values."""
    idx, val = vector
    return np.asarray(idx, dtype=np.int32).tobytes() + np.asarray(val, dtype=np.float32).tobytes()


def from_bytes(blob: bytes) -> SparseVector:
    half = len(blob) // 2
    return np.frombuffer(blob[:half], dtype=np.int32), np.frombuffer(blob[half:], dtype=np.float32)


class SparseIndex:
    """Rows are cases (in ``case_ids`` order), columns latent terms."""

    def __init__(self, matrix: object, case_ids: list[str], dim: int):
        self._matrix = matrix  # scipy.sparse.csc_matrix, shape (rows, dim)
        self.case_ids = case_ids
        self.dim = dim

    @classmethod
    def build(cls, vectors: Sequence[SparseVector], case_ids: list[str], dim: int) -> SparseIndex:
        from scipy.sparse import csr_matrix

        indptr = np.zeros(len(vectors) + 1, dtype=np.int64)
        for row, (idx, _) in enumerate(vectors):
            indptr[row + 1] = indptr[row] + len(idx)
        indices = (
            np.concatenate([np.asarray(v[0], dtype=np.int32) for v in vectors])
            if vectors
            else np.zeros(0, np.int32)
        )
        data = (
            np.concatenate([np.asarray(v[1], dtype=np.float32) for v in vectors])
            if vectors
            else np.zeros(0, np.float32)
        )
        if len(indices) and (indices.min() < 0 or indices.max() >= dim):
            raise ValueError(f"sparse vector index outside 0..{dim - 1}")
        matrix = csr_matrix((data, indices, indptr), shape=(len(vectors), dim)).tocsc()
        return cls(matrix, list(case_ids), dim)

    def save(self, folder: Path) -> None:
        m = self._matrix
        for name, array in zip(FILES, (m.data, m.indices, m.indptr)):  # type: ignore[attr-defined]  # scipy's stubs type a CSR matrix as a generic sparse array
            np.save(folder / name, np.ascontiguousarray(array))
        (folder / META).write_text(
            json.dumps({"dim": self.dim, "case_ids": self.case_ids}, ensure_ascii=False), "utf-8"
        )

    @classmethod
    def load(cls, folder: Path) -> SparseIndex | None:
        """The generation's sparse index, or None when it has none (an encoder without a sparse head)."""
        if not (folder / META).exists():
            return None
        from scipy.sparse import csc_matrix

        meta = json.loads((folder / META).read_text("utf-8"))
        data, indices, indptr = (np.load(folder / name, mmap_mode="r") for name in FILES)
        matrix = csc_matrix(
            (data, indices, indptr), shape=(len(meta["case_ids"]), int(meta["dim"])), copy=False
        )
        return cls(matrix, list(meta["case_ids"]), int(meta["dim"]))

    @property
    def size(self) -> int:
        return len(self.case_ids)

    def search(
        self, query: SparseVector, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[str, float]]:
        """The ``k`` best (case id, score) with a positive score, best first; ``allowed``: a boolean
        mask over the rows (None: every row)."""
        idx, val = query
        keep = (np.asarray(idx) >= 0) & (np.asarray(idx) < self.dim)
        idx, val = np.asarray(idx, dtype=np.int64)[keep], np.asarray(val, dtype=np.float32)[keep]
        if self.size == 0 or k <= 0 or not len(idx):
            return []
        scores = np.asarray(self._matrix[:, idx] @ val).ravel()  # type: ignore[index]  # scipy's stubs lack CSR column indexing
        if allowed is not None:
            scores = np.where(allowed, scores, 0.0)
        top = (
            np.argpartition(-scores, min(k, len(scores)) - 1)[:k]
            if len(scores) > k
            else np.arange(len(scores))
        )
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.case_ids[i], float(scores[i])) for i in top if scores[i] > 0]
