"""Search queries through a frozen TorchScript copy of the encoder's transformer.

One short query at a time, eager PyTorch spends much of its time dispatching ~300 small
operations from Python, holding the GIL the lexical legs need meanwhile. Traced and frozen, the
same weights run as one graph in TorchScript's interpreter, with no Python between operations: a
words query encodes in 6–7 ms instead of 10, a pasted log in 13 instead of 18 (bf16, one thread).
The pooling and normalising modules after the transformer still run as sentence-transformers defines them.

Built only for serving processes (``kb serve`` warms it up; a one-shot ``kb search`` would spend
longer tracing than it saves), and only when its vectors match the model's own ``encode``
(cosine >= :data:`MIN_COSINE` on probe texts of several lengths and both languages, alone and
batched; float32 agrees to 1.0, bf16 to 0.99996); otherwise the model's own ``encode`` answers.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MIN_COSINE = 0.9999
PROBES = (
    "mail relay timeout",
    "メール送信がタイムアウトする",
    "ERROR [scheduler-3] c.k.t.sched.JobRunner - SCH-13208 job failed after 30000 ms: broker connection refused\n"
    "WARN [scheduler-3] retry 3 of 5 for job nightly-export; the queue holds 2,356 entries",
)


class TracedQueries:
    """Encodes small batches of queries like ``model.encode`` (normalised float32 vectors)."""

    def __init__(self, model: Any, traced: Any, inputs: tuple[str, ...], output: str):
        self._model = model
        self._traced = traced
        self._inputs = inputs
        self._output = output
        self._rest = list(model)[1:]  # pooling, dense, normalise: as the model defines them

    @classmethod
    def build(cls, model: Any, warm_lengths: int = 0) -> TracedQueries | None:
        """The traced encoder, run once at every query length up to ``warm_lengths`` tokens, or None
        (logged) where the model cannot be traced or its vectors differ."""
        try:
            traced = cls._trace(model)
            if traced is None:
                return None
            cosine = traced.agreement()
            if cosine < MIN_COSINE:
                log.warning(
                    "query model not traced: its vectors differ from the model's (cosine %.6f)",
                    cosine,
                )
                return None
            traced.warm(warm_lengths)
            return traced
        except Exception as exc:  # noqa: BLE001 - any failure leaves the model's own encode in charge
            log.warning(
                "query model not traced (%s: %s); queries use the model's own encode",
                type(exc).__name__,
                exc,
            )
            return None

    @classmethod
    def _trace(cls, model: Any) -> TracedQueries | None:
        import torch
        from sentence_transformers.models import Transformer

        first = model[0]
        text = getattr(first, "modality_config", {}).get("text", {"method": "forward"})
        if not isinstance(first, Transformer) or text.get("method") != "forward":
            log.info(
                "query model not traced: %s is not a plain text transformer", type(first).__name__
            )
            return None
        network = first.auto_model
        accepted = inspect.signature(network.forward).parameters
        features = _features(model, [PROBES[0]])
        inputs = tuple(
            k for k, v in features.items() if k in accepted and isinstance(v, torch.Tensor)
        )
        # The tracer's notices (Python values it fixes as constants: the agreement check decides) and
        # TorchScript's deprecation (if a later torch drops it, tracing fails and the model answers).
        # Filters added once, not catch_warnings(): that is not thread-safe and this runs beside requests.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        warnings.filterwarnings(
            "ignore", category=FutureWarning, module=r"transformers\."
        )  # attributes the tracer reads
        with torch.inference_mode():
            traced = torch.jit.trace(
                network,
                example_kwarg_inputs={k: features[k] for k in inputs},
                strict=False,
                check_trace=False,
            )
            frozen = torch.jit.freeze(
                traced.eval()
            )  # optimize_for_inference measured no faster, 75 MB larger
        return cls(model, frozen, inputs, getattr(first, "module_output_name", "token_embeddings"))

    def agreement(self) -> float:
        """The lowest cosine between these vectors and the model's own, one probe at a time and all at once."""
        reference = np.asarray(
            self._model.encode(list(PROBES), convert_to_numpy=True), dtype=np.float32
        )
        reference /= np.linalg.norm(
            reference, axis=1, keepdims=True
        )  # in float32: a bf16 norm is off by 0.2%
        singles = np.vstack([self.encode([p]) for p in PROBES])
        batched = self.encode(list(PROBES))
        return float(
            min((singles * reference).sum(axis=1).min(), (batched * reference).sum(axis=1).min())
        )

    def warm(self, lengths: int) -> None:
        """Run the graph once at each input length up to ``lengths``: the first run at a new length
        prepares its kernels (12 ms on average, 6 ms later; a pasted log's first encoding at an
        unseen length 30 ms, later 15). The prepared kernels stay in memory, about 280 MB for
        the 128 lengths in bf16, as much as a worker without tracing holds once it has seen them."""
        import torch

        features = _features(self._model, [" ".join(PROBES) * 4])
        longest = min(lengths, int(features["input_ids"].shape[1]))
        with torch.inference_mode():
            for length in range(1, longest + 1):
                self._traced(**{k: features[k][:, :length] for k in self._inputs})

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        features = _features(self._model, texts)
        with torch.inference_mode():
            out = self._traced(**{k: features[k] for k in self._inputs})
            features[self._output] = out["last_hidden_state"] if isinstance(out, dict) else out[0]
            for module in self._rest:
                features = module(features)
            vectors = features["sentence_embedding"].float()
        return torch.nn.functional.normalize(vectors, dim=1).cpu().numpy()


def _features(model: Any, texts: list[str]) -> dict[str, Any]:
    """The model's own tokenisation (its truncation included), on the model's device."""
    import torch

    prepare = model.preprocess if hasattr(model, "preprocess") else model.tokenize
    features = dict(prepare(texts))
    return {
        k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()
    }
