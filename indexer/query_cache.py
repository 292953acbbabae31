"""Query vectors cached per app: a query text is embedded once, however many passes ask for it
(facets, paging, a reopened search), and each model is loaded once per process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from kb.settings import Settings


class QueryEncoderCache:
    """Wraps an encoder so a query text is embedded once (the facet pass and paging reuse it)."""

    def __init__(self, encoder: Any, size: int = 256):
        self._encoder = encoder
        self.name = getattr(encoder, "name", "")
        self.dim = getattr(encoder, "dim", 0)
        self._size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def query_text(self, text: str) -> str:
        return self._encoder.query_text(text)

    def prepare_queries(self) -> bool:
        return bool(self._encoder.prepare_queries())

    @property
    def sparse_dim(self) -> int:
        return int(getattr(self._encoder, "sparse_dim", 0) or 0)

    def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._encoder.encode_sparse(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        fresh = self._encoder.encode_queries(missing) if missing else None
        with self._lock:
            for text, vector in zip(missing, fresh if fresh is not None else []):
                self._cache[text] = vector
                if len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            for text in texts:
                if text in self._cache:
                    self._cache.move_to_end(text)
            found = {t: self._cache.get(t) for t in texts}
        if any(
            v is None for v in found.values()
        ):  # evicted meanwhile: encode what is missing again
            again = [t for t, v in found.items() if v is None]
            found.update(zip(again, self._encoder.encode_queries(again)))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack([vector for vector in (found[t] for t in texts) if vector is not None])


def caching_loader(settings: Settings) -> Callable[[str], Any]:
    """An ``encoder_loader`` for :class:`Searcher` that loads each model once and caches query vectors."""
    loaded: dict[str, QueryEncoderCache] = {}
    lock = threading.Lock()

    def load(model: str) -> QueryEncoderCache:
        with lock:
            if model not in loaded:
                from indexer.dense import encoder_for

                loaded[model] = QueryEncoderCache(encoder_for(settings, model))
                # a model first met by a search (a new generation's, or no warm-up) is traced meanwhile
                threading.Thread(
                    target=loaded[model].prepare_queries, name="kb-prepare", daemon=True
                ).start()
            return loaded[model]

    return load
