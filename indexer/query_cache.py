"""Query vectors cached per app: a query text is embedded once, however many passes ask for it
(facets, paging, a reopened search), and each model is loaded once per process."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from indexer.dense import alone
from kb.settings import Settings


class QueryEncoderCache:
    """Wraps an encoder so a query text is encoded once per leg (the facet pass and paging reuse
    it): its dense vector and its sparse latent terms, the least recently used dropped first."""

    def __init__(self, encoder: Any, size: int = 512):
        self._encoder = encoder
        self.name = getattr(encoder, "name", "")
        self.dim = getattr(encoder, "dim", 0)
        self._size = size
        self._cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def query_text(self, text: str) -> str:
        return self._encoder.query_text(text)

    def prepare_queries(self) -> bool:
        return bool(self._encoder.prepare_queries())

    def alone(self) -> Any:
        return alone(self._encoder)

    @property
    def sparse_dim(self) -> int:
        return int(getattr(self._encoder, "sparse_dim", 0) or 0)

    def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        return self._lookup("sparse", texts, self._encoder.encode_sparse)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.vstack(self._lookup("dense", texts, self._encoder.encode_queries))

    def _lookup(
        self, leg: str, texts: list[str], compute: Callable[[list[str]], Sequence[Any]]
    ) -> list[Any]:
        """``compute``'s value for each text, each distinct text not cached computed once."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if (leg, t) not in self._cache]
        found = dict(zip(missing, compute(missing))) if missing else {}
        with self._lock:
            for text, value in found.items():
                self._cache[(leg, text)] = value
            for text in dict.fromkeys(texts):
                if (leg, text) in self._cache:
                    self._cache.move_to_end((leg, text))
                    found.setdefault(text, self._cache[(leg, text)])
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        again = [
            t for t in dict.fromkeys(texts) if t not in found
        ]  # computed by no one: evicted meanwhile
        if again:
            found.update(zip(again, compute(again)))
        return [found[t] for t in texts]


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
