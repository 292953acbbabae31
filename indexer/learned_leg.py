"""The learned leg: a search finds the cases whose learned phrasings (:mod:`kb.phrasings`) say
what the query says, by the model's similarity of the query to those earlier searches.

Support agents describe one problem in words of their own; two agents' searches for it are closer
to each other in a multilingual encoder's space than to the engineer's write-up. A generation keeps
every counting phrasing encoded *as a query* (``learned-vectors.npy``, its case ids in
``learned-vectors.json``); a search compares its own query vector to them and ranks a case by its
closest phrasing, only from a similarity of :attr:`kb.settings.Settings.learn_similarity` (chosen
on the tuning set: docs "Learning from support"), so that a query merely near a phrasing is not
drawn to its case; the leg's score is its :func:`confidence`, fused as it is (not normalised per
query: :data:`indexer.fusion.ABSOLUTE_LEGS`). Encodings are cached in the store's embedding cache under ``MODEL#query``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VECTORS_FILE = "learned-vectors.npy"
IDS_FILE = "learned-vectors.json"
FLOORS_FILE = "learned-floors.npy"  # each phrasing's nearest phrasing of another case (the build's)
LAZY_FLOORS_MAX = 20_000  # a generation written before the floors: computed on first use up to this
BLOCK_CELLS = 1 << 24  # similarities per block of the floors' computation: 64 MiB of float32
CACHE_SUFFIX = "#query"  # a phrasing is encoded as a query, not as a passage of its case


def phrasing_rows(texts: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """(case id, phrasing) for every counting phrasing, in a stable order."""
    return [(cid, text) for cid in sorted(texts) for text in texts[cid]]


def encode(store: Any, encoder: Any, texts: Sequence[str]) -> np.ndarray:
    """The phrasings' query vectors, from the embedding cache where it has them."""
    from indexer.dense import model_texts

    key = getattr(encoder, "cache_key", encoder.name) + CACHE_SUFFIX
    hashes = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
    cached = store.cached_embeddings(key, hashes)
    missing = list(dict.fromkeys(h for h in hashes if h not in cached))
    if missing:
        by_hash = dict(zip(hashes, texts))
        fresh = encoder.encode_queries(model_texts(encoder, [by_hash[h] for h in missing]))
        vectors = {h: np.asarray(v, dtype=np.float32).tobytes() for h, v in zip(missing, fresh)}
        store.save_embeddings(key, int(fresh.shape[1]), vectors)
        cached.update(vectors)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([np.frombuffer(cached[h], dtype=np.float32) for h in hashes])


def write(folder: Path, store: Any, encoder: Any, texts: Mapping[str, Sequence[str]]) -> int:
    """Write the learned vectors of a generation (nothing when no phrasing counts, or the model
    has no query encoder); returns how many."""
    rows = phrasing_rows(texts)
    if not rows or not hasattr(encoder, "encode_queries"):
        return 0
    matrix = encode(store, encoder, [text for _, text in rows])
    ids = [cid for cid, _ in rows]
    np.save(folder / VECTORS_FILE, matrix)
    np.save(folder / FLOORS_FILE, other_case_nearest(matrix, ids))
    (folder / IDS_FILE).write_text(json.dumps(ids), "utf-8")
    return len(rows)


def nearest_cases(
    similarities: np.ndarray,
    case_ids: Sequence[str],
    threshold: float,
    allowed: Collection[str] | None = None,
    floors: np.ndarray | None = None,
) -> list[tuple[str, float]]:
    """(case id, its closest phrasing's similarity) for the cases with a phrasing at least
    ``threshold`` similar, best first (ties by id); ``allowed``: only these cases (None: all);
    ``floors``: each phrasing's own minimum besides the threshold (:func:`other_case_nearest`)."""
    best: dict[str, float] = {}
    passing = similarities >= threshold
    if floors is not None:
        passing &= similarities > floors
    for row in np.flatnonzero(passing):
        cid, score = case_ids[int(row)], float(similarities[row])
        if (allowed is None or cid in allowed) and score > best.get(cid, -1.0):
            best[cid] = score
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


def other_case_nearest(
    matrix: np.ndarray, case_ids: Sequence[str], block: int = 1024, cells: int = BLOCK_CELLS
) -> np.ndarray:
    """Each phrasing's similarity to the closest phrasing of *another* case (-1 when there is
    none): a search taken for a phrasing must be closer to it than that, or it would say as much
    about the other case. Rows go ``block`` at a time, fewer where a block would hold more than
    ``cells`` similarities (a build's memory stays bounded however many phrasings count)."""
    n = len(case_ids)
    out = np.full(n, -1.0, dtype=np.float32)
    if n < 2:
        return out
    block = rows_per_block(n, block, cells)
    codes = np.unique(np.asarray(case_ids), return_inverse=True)[1]
    rows = np.asarray(matrix, dtype=np.float32)
    for start in range(0, n, block):
        sims = rows[start : start + block] @ rows.T
        sims[codes[start : start + block, None] == codes[None, :]] = -1.0
        out[start : start + block] = sims.max(axis=1)
    return out


def rows_per_block(n: int, block: int = 1024, cells: int = BLOCK_CELLS) -> int:
    """How many of ``n`` phrasings' rows one block of the floors' computation takes: ``block``,
    fewer where that would hold more than ``cells`` similarities (at least one)."""
    return max(1, min(block, cells // max(1, n)))


def confidence(similarity: float, threshold: float) -> float:
    """How far above the threshold a similarity is, from 0 (at it) to 1 (an identical query)."""
    return 1.0 if threshold >= 1.0 else max(0.0, (similarity - threshold) / (1.0 - threshold))


class LearnedVectors:
    """A generation's learned vectors, opened for search."""

    def __init__(self, matrix: np.ndarray, case_ids: list[str], floors: np.ndarray | None = None):
        if len(matrix) != len(case_ids):
            raise ValueError(
                f"{VECTORS_FILE} holds {len(matrix)} vectors for {len(case_ids)} case ids"
            )
        if floors is not None and len(floors) != len(case_ids):
            raise ValueError(
                f"{FLOORS_FILE} holds {len(floors)} floors for {len(case_ids)} phrasings"
            )
        self.matrix, self.case_ids = matrix, case_ids
        self._floors = floors

    @classmethod
    def load(cls, folder: Path) -> LearnedVectors | None:
        """The folder's learned vectors (None: the generation has none)."""
        if not (folder / VECTORS_FILE).exists():
            return None
        matrix = np.load(folder / VECTORS_FILE, mmap_mode="r")  # shared by a host's workers
        floors = (
            np.load(folder / FLOORS_FILE, mmap_mode="r")
            if (folder / FLOORS_FILE).exists()
            else None
        )
        return cls(matrix, json.loads((folder / IDS_FILE).read_text("utf-8")), floors)

    @property
    def size(self) -> int:
        return len(self.case_ids)

    def search(
        self,
        vector: np.ndarray,
        threshold: float,
        allowed: Collection[str] | None = None,
        distinct: bool = False,
    ) -> list[tuple[str, float]]:
        """The cases whose phrasings the query vector is close to (see :func:`nearest_cases`);
        ``distinct``: closer than each phrasing's nearest phrasing of another case, too."""
        if vector.shape[-1] != self.matrix.shape[1]:
            return []  # another model's vectors: the leg says nothing
        if distinct and self._floors is None and self.size <= LAZY_FLOORS_MAX:
            self._floors = other_case_nearest(self.matrix, self.case_ids)  # an older generation
        return nearest_cases(
            self.matrix @ vector.astype(np.float32),
            self.case_ids,
            threshold,
            allowed,
            self._floors if distinct else None,
        )
