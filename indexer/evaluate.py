"""``kb eval``: the evaluation set (or a BEIR folder) against a freshly built temporary index.

Each leg is run once per query and every variant (each leg alone, the hybrid) is scored from
those rankings, so the figures of the hybrid are exactly what search returns.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from indexer.evidence import Floors, for_language, model_leg_matches, partition
from indexer.filters import Filters
from indexer.metrics import mean_scores, score_all
from indexer.searcher import (
    EXACT_FIRST_KINDS,
    WEAK_SHOWN,
    Searcher,
    SearchRequest,
    classify_query,
    exact_tier,
    foreign_ids,
    fuse,
    fusion_method,
    read_query,
)
from kb.case import Case, Section
from kb.codes import canonical_code
from kb.errors import InvalidInputError
from kb.language import detect_language
from kb.logsig import looks_like_log
from kb.settings import Settings
from kb.store import Store
from kb.weights import LEGS

KINDS = ("words", "code", "log")
DEFAULT_QUERIES = (
    Path(__file__).resolve().parent.parent / "tests" / "data" / "eval" / "queries.jsonl"
)
Progress = Callable[[str], None] | None


@dataclass(frozen=True)
class EvalQuery:
    query: str
    relevant: dict[str, float]
    kind: str
    lang: str
    qid: str = ""
    groups: tuple[str, ...] = ()  # "cross-lingual", "bare-code": rows of their own in the report


def load_queries(path: Path) -> list[EvalQuery]:
    """Read a JSON Lines evaluation file; a bad line is an error naming file and line."""
    queries = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: cannot read evaluation queries ({exc})") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            text, relevant = data["query"], data.get("relevant", [])
            if not isinstance(text, str) or not text.strip() or not isinstance(relevant, list):
                raise ValueError(
                    "'query' must be text and 'relevant' a list (empty or absent: no case answers it)"
                )
            kind = data.get("kind") or classify_query(text)
            if kind not in KINDS:
                raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path}:{n}: invalid evaluation query ({exc})") from exc
        queries.append(
            EvalQuery(
                text,
                {str(r): 1.0 for r in relevant},
                kind,
                data.get("lang") or detect_language(text),
                str(n),
            )
        )
    return queries


def beir_cases(folder: Path) -> list[Case]:
    """BEIR ``corpus.jsonl`` documents as cases (title + text as the symptoms section)."""
    cases = []
    with (folder / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            doc = json.loads(line)
            text, title = doc.get("text", ""), doc.get("title") or ""
            cases.append(
                Case(
                    id=str(doc["_id"]),
                    title=title or text[:80],
                    status="resolved",
                    product="beir",
                    component="beir",
                    visibility="support",
                    created=date(2000, 1, 1),
                    lang=detect_language(title + text),
                    path=f"{doc['_id']}.md",
                    content_hash=str(hash(text)),
                    sections=(Section("symptoms", "Text", text, 1),),
                )
            )
    return cases


def beir_queries(folder: Path, limit: int | None = None) -> list[EvalQuery]:
    """BEIR queries with their graded qrels (queries without judgements are skipped)."""
    qrels: dict[str, dict[str, float]] = defaultdict(dict)
    with (folder / "qrels.tsv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels[row["query-id"]][row["corpus-id"]] = float(row["score"])
    queries = []
    with (folder / "queries.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                q = json.loads(line)
                if str(q["_id"]) in qrels:
                    text = q["text"]
                    queries.append(
                        EvalQuery(
                            text,
                            qrels[str(q["_id"])],
                            classify_query(text),
                            detect_language(text),
                            str(q["_id"]),
                        )
                    )
    return queries[:limit] if limit else queries


@dataclass
class EvalReport:
    """Scores per variant (lexical, signature, dense, hybrid, ...), overall and per split."""

    variants: dict[str, dict[str, Any]] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)
    matching: dict[str, Any] = field(
        default_factory=dict
    )  # honest totals: see :func:`matching_figures`

    def to_dict(self) -> dict[str, Any]:
        return self.variants | ({"matching": self.matching} if self.matching else {})


def counted_matches(ranking: Sequence[Any], related: dict[str, list[str]]) -> set[str]:
    """The cases search counts as matches for a ranking: those with evidence of their own and the
    declared related cases of those among the candidates (every case a leg ranked)."""
    ranked = {cid for ids in ranking[1].values() for cid in ids}
    return set(ranking[4]) | (related_of(ranking[4], related) & ranked)


def matching_figures(
    queries: Sequence[EvalQuery],
    rankings: Sequence[Sequence[Any]],
    related: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """How honest the totals are: unanswerable queries (no relevant case) shown with no counted
    match, per language; answerable ones whose best-ranked relevant case is a counted match."""
    counted = [counted_matches(r, related or {}) for r in rankings]
    unanswerable = [(q, c) for q, c in zip(queries, counted) if not q.relevant]
    answerable = [(q, c) for q, c in zip(queries, counted) if q.relevant]
    figures: dict[str, Any] = {"unanswerable": len(unanswerable)}
    for lang in (None, "ja", "en"):
        rows = [c for q, c in unanswerable if lang is None or q.lang == lang]
        if rows:
            figures["no_match" + (f"_{lang}" if lang else "")] = round(
                sum(1 for c in rows if not c) / len(rows), 3
            )
    relevant_matched = [any(cid in c for cid in q.relevant) for q, c in answerable]
    if relevant_matched:
        figures["answerable"] = len(answerable)
        figures["relevant_matched"] = round(sum(relevant_matched) / len(relevant_matched), 3)
    return figures


def query_groups(query: EvalQuery, cases: dict[str, Case]) -> tuple[str, ...]:
    """The extra rows a query counts in: ``cross-lingual`` when every case that answers it is
    written in another language than the query; ``bare-code`` when the query is nothing but a
    code one of those cases lists."""
    groups = []
    answers = [cases[cid] for cid in query.relevant if cid in cases]
    if answers and all(c.lang and c.lang != query.lang for c in answers):
        groups.append("cross-lingual")
    bare = canonical_code(query.query)
    if answers and any(bare in {canonical_code(code) for code in c.error_codes} for c in answers):
        groups.append("bare-code")
    return tuple(groups)


def with_groups(queries: Sequence[EvalQuery], cases: Sequence[Case]) -> list[EvalQuery]:
    by_id = {c.id: c for c in cases}
    return [replace(q, groups=query_groups(q, by_id)) for q in queries]


SPLITS = ("lang", "kind", "group")


def _score_variant(rows: list[tuple[EvalQuery, list[str]]]) -> dict[str, Any]:
    overall = mean_scores([score_all(ranked, q.relevant) for q, ranked in rows])
    splits: dict[str, Any] = {}
    for key in SPLITS:
        groups: dict[str, list[dict[str, float]]] = defaultdict(list)
        for q, ranked in rows:
            for name in q.groups if key == "group" else (getattr(q, key),):
                groups[name].append(score_all(ranked, q.relevant))
        splits[key] = {name: mean_scores(vals) for name, vals in sorted(groups.items())}
    return overall | {"splits": splits}


def index_cases(
    cases: Sequence[Case], settings: Settings, encoder: Any, profile_name: str, progress: Progress
) -> Searcher:
    """Load cases into the store at ``settings`` and publish a generation built with ``profile_name``."""
    from indexer.builder import build_generation

    store = Store(settings.resolved_database_url)
    store.create_schema()
    with store.session() as session:
        store.upsert_cases(session, cases)
    build_generation(settings, store, encoder, progress, field_profile=profile_name)
    return Searcher(settings, store, encoder_loader=lambda _model: encoder)


def evaluate(
    cases: Sequence[Case],
    queries: Sequence[EvalQuery],
    settings: Settings,
    encoder: Any,
    baseline: bool = False,
    progress: Progress = None,
    weights_override: dict[str, dict[str, float]] | None = None,
) -> EvalReport:
    """Index ``cases`` in a temporary data folder and score every leg and the hybrid."""
    report = EvalReport()
    queries = with_groups(queries, cases)
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        local = settings.replace(data_dir=Path(tmp), database_url="")
        searcher = index_cases(cases, local, encoder, "standard", progress)
        manifest = searcher.generation().manifest
        report.manifest = {
            "model": manifest.model,
            "fusion_weights": manifest.fusion_weights,
            "rrf_k": manifest.rrf_k,
            "fusion_method": fusion_method(manifest),
        }
        requests = [
            SearchRequest(text=q.query, role="admin", limit=10, filters=Filters()) for q in queries
        ]
        ranked_all = []
        for start in range(0, len(requests), 256):
            ranked_all += searcher.rank_many(requests[start : start + 256])
            if progress:
                progress(f"evaluated {min(start + 256, len(requests))}/{len(requests)} queries")
        weights = weights_override or manifest.fusion_weights
        report.matching = matching_figures(queries, ranked_all, searcher.generation().related)
        scored = [(q, r) for q, r in zip(queries, ranked_all) if q.relevant]
        report.variants = (
            {}
            if not scored
            else score_rankings(
                [q for q, _ in scored],
                [r for _, r in scored],
                weights,
                manifest.rrf_k,
                searcher.generation().related,
                fusion_method(manifest),
                searcher.generation().case_lang,
            )
        )
        if baseline:
            base = settings.replace(
                data_dir=Path(tmp) / "baseline", database_url=local.resolved_database_url
            )
            base_searcher = index_cases(cases, base, encoder, "baseline", progress)
            base_ranked = base_searcher.rank_many(
                [SearchRequest(text=q.query, role="admin", legs=("lexical",)) for q in queries]
            )
            report.variants["lexical-baseline"] = _score_variant(
                [(q, r[1]["lexical"]) for q, r in zip(queries, base_ranked)]
            )
    return report


def hybrid_ranking(
    query: str,
    ranking: Sequence[Any],
    weights: dict[str, Any],
    k: int,
    related: dict[str, list[str]] | None = None,
    limit: int = 10,
    tier_kinds: Sequence[str] = EXACT_FIRST_KINDS,
    method: str = "rrf",
    case_lang: dict[str, str] | None = None,
) -> list[str]:
    """The ids search returns for one query, from its legs' rankings (the same steps as ``Searcher``).
    ``ranking`` is a :data:`indexer.searcher.Ranking` (lang, ids per leg, exact matches, scores per leg,
    matching ids)."""
    lang, ranked, matches = ranking[:3]
    scores = ranking[3] if len(ranking) > 3 else {}
    kind, w = read_query(weights, lang, query, matches, LEGS)
    foreign = foreign_ids(ranked, case_lang or {}, lang, w)
    fused = fuse(
        ranked, w, k, related or {}, exact_tier(kind, matches, tier_kinds), scores, method, foreign
    )
    if (
        len(ranking) > 4
    ):  # as search shows them: the matches, then weak candidates where the matches run out
        strong, weak = partition(fused, set(ranking[4]) | related_of(ranking[4], related or {}))
        fused = strong[:limit] + (weak[:WEAK_SHOWN] if len(strong) < limit else [])
    return [cid for cid, _ in fused][:limit]


def with_model_matches(
    query: str, ranking: Sequence[Any], weights: dict[str, Any], floors: Floors
) -> list[Any]:
    """``ranking`` whose matching ids are the text legs' only, with those the model legs that have
    a weight for the query add (by the floors for its language), as search would count them with
    those weights: the fusion sweep scores many weights on rankings computed once."""
    lang, ranked, matches, scores = ranking[:4]
    _, w = read_query(weights, lang, query, matches, LEGS)
    extra = model_leg_matches(ranked, scores, w, for_language(floors, lang))
    return [*ranking[:4], sorted(set(ranking[4]) | extra)]


def related_of(matched: Sequence[str], related: dict[str, list[str]]) -> set[str]:
    """The declared related cases of the matching ones (they match too, as in search)."""
    return {other for cid in matched for other in related.get(cid, ())}


def score_rankings(
    queries: Sequence[EvalQuery],
    ranked_all: Sequence[Sequence[Any]],
    weights: dict[str, Any],
    k: int,
    related: dict[str, list[str]] | None = None,
    method: str = "rrf",
    case_lang: dict[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score each leg alone and their fusion from per-query leg rankings."""
    variants: dict[str, dict[str, Any]] = {}
    for leg in LEGS:
        rows = [
            (q, r[1].get(leg, []))
            for q, r in zip(queries, ranked_all)
            if leg != "signature" or looks_like_log(q.query)
        ]
        if rows and any(
            r for _, r in rows
        ):  # a leg the generation does not have (no sparse head) is left out
            variants[leg] = _score_variant(rows)
    hybrid = [
        (q, hybrid_ranking(q.query, r, weights, k, related, method=method, case_lang=case_lang))
        for q, r in zip(queries, ranked_all)
    ]
    variants["hybrid"] = _score_variant(hybrid)
    return variants


def _split_getter(key: str, value: str) -> Any:
    """The metrics of one split (``lang=ja``...) of a variant's report."""
    return lambda v: v["splits"].get(key, {}).get(value)


def format_report(report: EvalReport, title: str) -> str:
    """A side-by-side text table: variants as columns, overall then per-split rows."""
    names = list(report.variants)
    metrics = ["ndcg@10", "recall@1", "recall@5", "recall@10", "success@1", "mrr@10", "queries"]
    lines = [
        title,
        f"model {report.manifest.get('model')}, weights {json.dumps(report.manifest.get('fusion_weights'))}",
        "",
    ]
    header = f"{'':22}" + "".join(f"{n:>18}" for n in names)
    for split_label, getter in [("all", lambda v: v)] + [
        (
            f"{key}={value}",
            _split_getter(key, value),
        )
        for key in SPLITS
        for value in sorted(
            {val for v in report.variants.values() for val in v["splits"].get(key, {})}
        )
    ]:
        lines.append(f"[{split_label}]")
        lines.append(header)
        for metric in metrics:
            cells = []
            for name in names:
                block = getter(report.variants[name])
                cells.append(f"{block[metric]:>18}" if block else f"{'-':>18}")
            lines.append(f"  {metric:<20}" + "".join(cells))
        lines.append("")
    m = report.matching
    if m.get("unanswerable") or m.get("answerable"):
        lines.append("[matches: what the result count counts]")
        if m.get("answerable"):
            lines.append(
                f"  answerable queries whose relevant case is a counted match: "
                f"{m['relevant_matched']:.1%} of {m['answerable']}"
            )
        if m.get("unanswerable"):
            per_lang = ", ".join(
                f"{lang} {m[f'no_match_{lang}']:.1%}"
                for lang in ("ja", "en")
                if f"no_match_{lang}" in m
            )
            lines.append(
                f"  unanswerable queries shown as no match (weak candidates only): "
                f"{m['no_match']:.1%} of {m['unanswerable']} ({per_lang})"
            )
    return "\n".join(lines)


def cases_for_eval(settings: Settings) -> list[Case]:
    """The corpus in the cases folder (bad files reported by ``kb lint`` are left out)."""
    from kb.corpus import load_cases

    return load_cases([settings.cases_dir], settings.id_regex, settings.max_case_bytes).cases


def eval_inputs(
    settings: Settings,
    beir_dir: Path | None = None,
    queries_file: Path | Sequence[Path] | None = None,
    max_queries: int | None = None,
) -> tuple[list[Case], list[EvalQuery], str]:
    """(cases, queries, title): a BEIR folder, or the queries file(s) against the cases folder."""
    if beir_dir is not None:
        return beir_cases(beir_dir), beir_queries(beir_dir, max_queries), f"BEIR {beir_dir}"
    paths = (
        [queries_file]
        if isinstance(queries_file, Path)
        else list(queries_file or []) or [DEFAULT_QUERIES]
    )
    queries = [q for path in paths for q in load_queries(path)]
    return (
        cases_for_eval(settings),
        queries[:max_queries],
        f"{' + '.join(str(p) for p in paths)} against {settings.cases_dir}",
    )
