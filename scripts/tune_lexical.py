"""Compare lexical analysis variants (Sudachi split mode, bigram weight, field boosts) by nDCG@10.

Usage: python scripts/tune_lexical.py [--beir DIR] [--max-queries N]
       python scripts/tune_lexical.py --smoke   # the standard profile only, 8 queries: seconds
The dense leg is replaced by a tiny hashing encoder, so only the lexical leg is measured.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from unittest import mock

from indexer import analysis, documents, lexical
from indexer.evaluate import eval_inputs, index_cases
from indexer.hashing_encoder import HashingEncoder
from indexer.lexical import FieldSpec
from indexer.metrics import mean_scores, score_all
from indexer.searcher import SearchRequest
from kb.settings import load_settings


def measure(cases, queries, settings, fields) -> dict:
    with (
        tempfile.TemporaryDirectory() as tmp,
        mock.patch.dict(lexical.PROFILES, {"standard": fields}),
        # analysed in this process: worker processes would not see the split mode patched below
        mock.patch.object(documents, "PARALLEL_CASES", float("inf")),
    ):
        searcher = index_cases(
            cases,
            settings.replace(data_dir=Path(tmp), database_url=""),
            HashingEncoder(8),
            "standard",
            None,
        )
        ranked = searcher.rank_many(
            [SearchRequest(text=q.query, role="admin", legs=("lexical",)) for q in queries]
        )
        return mean_scores(
            [score_all(r[1]["lexical"], q.relevant) for q, r in zip(queries, ranked)]
        )  # (lang, ranked per leg, ...)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beir", type=Path)
    parser.add_argument("--max-queries", type=int)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="the standard profile in split mode C on 8 queries: only that it runs",
    )
    args = parser.parse_args()
    if args.smoke:
        args.beir, args.max_queries = None, 8
    settings = load_settings()
    cases, queries, _ = eval_inputs(settings, args.beir, max_queries=args.max_queries)
    base = list(lexical.PROFILES["standard"])
    variants = {"standard": base}
    for weight in (0.0, 0.3, 1.0):
        variants[f"bigram={weight}"] = [
            f if f.name != "bigram" else FieldSpec("bigram", "bigrams", weight)
            for f in base
            if weight or f.name != "bigram"
        ]
    variants["flat boosts"] = [FieldSpec(f.name, f.analyzer, 1.0) for f in base]
    original = analysis.japanese_words
    for mode in ("A", "B", "C"):
        for label, fields in variants.items():
            if (mode != "C" and label != "standard") or (
                args.smoke and (mode, label) != ("C", "standard")
            ):
                continue
            analysis.japanese_words = lambda run, mode=mode: original(run, mode)  # type: ignore[assignment]
            scores = measure(cases, queries, settings, tuple(fields))
            print(
                f"sudachi={mode} {label:<14} ndcg@10={scores['ndcg@10']:.4f} recall@5={scores['recall@5']:.4f} "
                f"success@1={scores['success@1']:.4f} (n={scores['queries']})",
                flush=True,
            )
    analysis.japanese_words = original


if __name__ == "__main__":
    main()
