"""Sweep fusion weights on an evaluation set and print nDCG@10 / Recall@5 per setting.

Each leg runs once per query; every weight setting is scored from those rankings.
Usage: python scripts/tune_fusion.py [--beir DIR] [--max-queries N] [--show-misses]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from indexer.dense import encoder_for
from indexer.evaluate import eval_inputs, index_cases, score_rankings
from indexer.searcher import SearchRequest
from kb.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", type=Path)
    parser.add_argument("--max-queries", type=int)
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--no-related", action="store_true", help="Measure without the related-case lift.")
    parser.add_argument("--k", type=int, nargs="*", default=[60])
    args = parser.parse_args()
    settings = load_settings()
    cases, queries, _ = eval_inputs(settings, args.beir, max_queries=args.max_queries)
    encoder = encoder_for(settings)
    with tempfile.TemporaryDirectory() as tmp:
        searcher = index_cases(cases, settings.replace(data_dir=Path(tmp), database_url=""), encoder, "standard", None)
        ranked = []
        for i in range(0, len(queries), 256):
            ranked += searcher.rank_many([SearchRequest(text=q.query, role="admin") for q in queries[i:i + 256]])
        related = searcher.generation().related if not args.no_related else {}
    print(f"{'k':>4} {'dense_en':>9} {'dense_ja':>9} {'sig':>5} | {'ndcg':>7} {'R@5':>7} {'S@1':>7} | ndcg by lang / kind")
    for k, d_en, d_ja, sig in itertools.product(args.k, (0.0, 0.2, 0.35, 0.5, 0.7, 1.0), (0.0, 0.05, 0.1, 0.2, 0.5), (1.0, 2.0)):
        weights = {"en": {"lexical": 1.0, "signature": sig, "dense": d_en}, "ja": {"lexical": 1.0, "signature": sig, "dense": d_ja}}
        hybrid = score_rankings(queries, ranked, weights, k, related)["hybrid"]
        splits = " ".join(f"{name}={v['ndcg@10']:.3f}" for key in ("lang", "kind") for name, v in hybrid["splits"][key].items())
        print(f"{k:>4} {d_en:>9} {d_ja:>9} {sig:>5} | {hybrid['ndcg@10']:>7.4f} {hybrid['recall@5']:>7.4f} {hybrid['success@1']:>7.4f} | {splits}")
    if args.show_misses:
        from indexer.fusion import default_weights
        from indexer.searcher import classify_query, effective_weights, fuse

        weights = default_weights(settings.embed_model)
        for q, (lang, legs) in zip(queries, ranked):
            w = effective_weights(weights[lang], classify_query(q.query), ("lexical", "signature", "dense"))
            top = [cid for cid, _ in fuse(legs, w, 60, related)][:5]
            if set(q.relevant) - set(top):
                print(f"\nMISS [{q.kind}/{lang}] {q.query[:120]!r}\n  relevant={list(q.relevant)}\n  hybrid={top}\n  lexical={legs.get('lexical', [])[:5]}\n  dense={legs.get('dense', [])[:5]}\n  sig={legs.get('signature', [])[:5]}")


if __name__ == "__main__":
    main()
