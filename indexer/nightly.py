"""The nightly job: optionally pull the cases repository, reindex, check quality and freshness,
and write a machine-readable JSON report. The exit status says what went wrong (see ``EXIT``)."""

from __future__ import annotations

import json
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from indexer import generation as gen
from indexer.evaluate import DEFAULT_QUERIES, load_queries, score_rankings
from indexer.jobs import run_index
from indexer.searcher import Searcher, SearchRequest, fusion_method
from kb import phrasings
from kb.errors import KBError
from kb.history import repo_for
from kb.migrate import open_store
from kb.repo import sync
from kb.settings import Settings

EXIT = {
    "ok": 0,
    "bad_files": 1,
    "failed": 2,
    "quality_drop": 3,
    "edits_waiting": 4,
    "sync_failed": 5,
}
REPORTS = "reports"
LATEST = "nightly-latest.json"
Progress = Callable[[str], None] | None


def git_pull(cases_dir: Path) -> dict[str, Any]:
    """``git pull --ff-only`` when the cases folder is a git checkout (kept for scripts; the job
    uses :func:`git_sync`)."""
    probe = subprocess.run(
        ["git", "-C", str(cases_dir), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return {"pulled": False, "reason": "not a git checkout"}
    run = subprocess.run(
        ["git", "-C", str(cases_dir), "pull", "--ff-only"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return {
        "pulled": run.returncode == 0,
        "output": (run.stdout + run.stderr).strip()[-2000:],
        "status": run.returncode,
    }


def git_sync(settings: Settings) -> dict[str, Any]:
    """Sync the cases repository with its remote (:func:`kb.repo.sync`): fetch, replay the web edits
    on upstream, push; edits that conflict wait on side branches (``waiting``)."""
    repo = repo_for(settings)
    if repo is None:
        return {"pulled": False, "synced": False, "reason": "not a git checkout", "waiting": []}
    result = sync(repo, settings.git_remote, settings.git_branch, cases_dir=settings.cases_dir)
    report = result.to_dict()
    report["pulled_commits"] = report.pop("pulled")
    return report | {"pulled": result.synced}


def overdue_reviews(
    catalog: dict[str, dict[str, Any]], today: date
) -> dict[str, list[dict[str, str]]]:
    """Cases whose ``review_by`` has passed, grouped by owner (first author), oldest first."""
    groups: dict[str, list[dict[str, str]]] = defaultdict(list)
    for cid, info in sorted(
        catalog.items(), key=lambda kv: (kv[1].get("review_by") or date.max, kv[0])
    ):
        due = info.get("review_by")
        if due and due < today:
            owner = (info.get("authors") or ["(no author)"])[0]
            groups[owner].append(
                {"id": cid, "title": info.get("title", ""), "review_by": due.isoformat()}
            )
    return dict(sorted(groups.items()))


def quality(settings: Settings, queries_file: Path) -> dict[str, Any]:
    """nDCG@10 / Recall@5 of the live generation on the evaluation queries whose cases exist."""
    store = open_store(settings)
    try:
        known = set(
            store.case_hashes()
        )  # checked before the generation is opened: cheap at any size
        queries = [q for q in load_queries(queries_file) if set(q.relevant) <= known]
        searcher = Searcher(settings, store)
        if not queries:
            return {
                "skipped": f"no query in {queries_file} is about cases of this corpus",
                "generation": gen.current_name(settings.index_dir),
            }
        g = searcher.generation()
        ranked = searcher.rank_many([SearchRequest(text=q.query, role="admin") for q in queries])
        hybrid = score_rankings(
            queries,
            ranked,
            g.manifest.fusion_weights,
            g.manifest.rrf_k,
            g.related,
            fusion_method(g.manifest),
            g.case_lang,
        )["hybrid"]
        return {
            "ndcg@10": hybrid["ndcg@10"],
            "recall@5": hybrid["recall@5"],
            "queries": len(queries),
            "generation": g.name,
        }
    finally:
        store.close()


def compare(
    current: dict[str, Any], previous: dict[str, Any] | None, tolerance: float
) -> dict[str, Any]:
    """Current metrics beside the previous run's; ``drop`` is True when any fell by more than ``tolerance``."""
    if not previous or "ndcg@10" not in previous or "ndcg@10" not in current:
        return {"previous": previous, "drop": False}
    deltas = {m: round(current[m] - previous[m], 4) for m in ("ndcg@10", "recall@5")}
    return {
        "previous": {m: previous[m] for m in deltas},
        "delta": deltas,
        "drop": any(d < -tolerance for d in deltas.values()),
        "tolerance": tolerance,
    }


def run_nightly(
    settings: Settings,
    pull: bool = False,
    queries_file: Path | None = None,
    tolerance: float = 0.02,
    progress: Progress = None,
    today: date | None = None,
    lock_wait: float = 60.0,
) -> tuple[dict[str, Any], int]:
    """Run the whole job and return (report, exit status). The report is also written to disk."""
    started = time.monotonic()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cases_dir": str(settings.cases_dir),
        "durations": {},
    }
    reports_dir = settings.data_dir / REPORTS
    previous = _read_json(reports_dir / LATEST)
    status = "ok"
    try:
        if pull:
            t = time.monotonic()
            report["git"] = git_sync(settings)
            report["durations"]["pull"] = round(time.monotonic() - t, 3)
        t = time.monotonic()
        index = run_index(settings, progress=progress, wait=lock_wait)
        report["durations"]["index"] = round(time.monotonic() - t, 3)
        report["index"] = {
            "added": len(index.sync.added),
            "changed": len(index.sync.changed),
            "deleted": len(index.sync.deleted),
            "unchanged": index.sync.unchanged,
            "failed": len(index.failed),
            "errors": [p.to_dict() for p in index.problems if p.is_error],
            "refused": [
                r.to_dict() for r in index.refused
            ],  # each case file not indexed, with its reasons
            "warnings": len([p for p in index.problems if not p.is_error]),
            "generation": index.generation,
            "published": index.published,
            "plan": index.plan,
        }
        if index.failed:
            status = "bad_files"
        t = time.monotonic()
        before = (previous or {}).get("quality") or {}
        if (
            not index.published
            and before.get("generation") == index.generation
            and ("ndcg@10" in before or "skipped" in before)
        ):
            kept = ("ndcg@10", "recall@5", "queries", "generation", "skipped")
            current = {k: before[k] for k in kept if k in before} | {"carried_over": True}
        else:
            current = quality(settings, queries_file or DEFAULT_QUERIES)
        report["durations"]["quality"] = round(time.monotonic() - t, 3)
        report["quality"] = current | compare(
            current, before.get("previous") if current.get("carried_over") else before, tolerance
        )
        if report["quality"].get("drop"):
            status = "quality_drop"
        store = open_store(settings)
        try:
            from kb.activity import scrub_search_log

            day = today or date.today()
            report["review_overdue"] = overdue_reviews(store.case_catalog(review_before=day), day)
            report["search_log_scrubbed"] = scrub_search_log(store, settings.search_log_days)
            report["learned_phrasings"] = phrasings.nightly_entries(
                store, settings, datetime.now(UTC) - timedelta(days=1)
            )
        finally:
            store.close()
    except KBError as exc:
        report["error"] = str(exc)
        status = "failed"
    git = report.get("git") or {}
    if status == "ok" and git.get("error"):
        status = "sync_failed"
    elif status == "ok" and git.get("waiting"):
        status = "edits_waiting"  # web edits that conflicted with upstream, kept on side branches
    report["status"] = status
    report["durations"]["total"] = round(time.monotonic() - started, 3)
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    _write_report(reports_dir, report, keep_previous=status != "failed" or previous is None)
    return report, EXIT[status]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def report_file(folder: Path, report: dict[str, Any]) -> Path:
    """Where the run's own JSON report is kept: ``nightly-<start time>.json`` in ``folder``."""
    stamp = report["started_at"].replace(":", "").replace("-", "")[:15]
    return folder / f"nightly-{stamp}.json"


def report_text(report: dict[str, Any]) -> str:
    """The report as the JSON written to disk (and printed by ``kb nightly --json``)."""
    return json.dumps(report, ensure_ascii=False, indent=2, default=str)


def _write_report(folder: Path, report: dict[str, Any], keep_previous: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    text = report_text(report)
    report_file(folder, report).write_text(text, "utf-8")
    if keep_previous:  # a failed run must not become the baseline of the next comparison
        tmp = folder / f".{LATEST}.tmp"
        tmp.write_text(text, "utf-8")
        tmp.replace(folder / LATEST)


SUMMARY_ITEMS = (
    5  # problems, refusals and owners listed by name in the summary; the report has them all
)


def summary_lines(report: dict[str, Any], saved_to: Path | None = None) -> list[str]:
    """A one-screen account of a run (at most about 25 lines): status, index, quality, reviews,
    the first few problems by name, and where the whole JSON report is."""
    durations = report.get("durations") or {}
    lines = [
        f"nightly: {report.get('status', '?')} (exit {EXIT.get(report.get('status', ''), '?')}) "
        f"in {durations.get('total', 0):.1f} s"
    ]
    if "error" in report:
        lines.append(f"error: {report['error']}")
    git = report.get("git")
    if git:
        if git.get("error"):
            lines.append(f"git: sync failed ({git['error'][:200]})")
        elif git.get("pulled"):
            pushed = ", pushed" if git.get("pushed") else ""
            lines.append(
                f"git: synced with {git.get('remote', '?')}/{git.get('branch', '?')} "
                f"({git.get('pulled_commits', 0)} pulled, "
                f"{git.get('replayed', 0)} replayed{pushed})"
                if "synced" in git
                else "git: pulled"
            )
        else:
            lines.append(
                f"git: not pulled ({git.get('reason') or 'status ' + str(git.get('status'))})"
            )
        waiting = git.get("waiting") or []
        if waiting:
            lines.append(f"edits waiting for merge: {len(waiting)} (side branches, nothing lost):")
            lines += [
                f"  {w['branch']} ({w['path']}, by {w['author']})" for w in waiting[:SUMMARY_ITEMS]
            ]
    index = report.get("index")
    if index:
        state = (
            f"published {index['generation']}"
            if index.get("published")
            else f"index unchanged ({index.get('generation') or 'none'})"
        )
        lines.append(
            f"index: {index['added']} added, {index['changed']} changed, {index['deleted']} deleted, "
            f"{index['unchanged']} unchanged, {index['failed']} failed, {index['warnings']} warning(s); {state}"
        )
        refused = index.get("refused") or []
        if refused:
            lines.append(f"refused {len(refused)} case file(s), not indexed:")
            for item in refused[:SUMMARY_ITEMS]:
                first = (item.get("errors") or [{}])[0]
                where = f"{item['path']}:{first['line']}" if first.get("line") else item["path"]
                lines.append(f"  {where}: {first.get('message', '')}"[:160])
            if len(refused) > SUMMARY_ITEMS:
                lines.append(f"  … and {len(refused) - SUMMARY_ITEMS} more (see the report)")
    lines += _quality_lines(report.get("quality"))
    overdue = report.get("review_overdue")
    if overdue is not None:
        count = sum(len(cases) for cases in overdue.values())
        owners = sorted(overdue.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        named = ", ".join(f"{owner} {len(cases)}" for owner, cases in owners[:SUMMARY_ITEMS])
        more = f", … {len(owners) - SUMMARY_ITEMS} more" if len(owners) > SUMMARY_ITEMS else ""
        lines.append(f"reviews overdue: {count} case(s)" + (f" ({named}{more})" if count else ""))
    if report.get("learned_phrasings"):
        learned = report["learned_phrasings"]
        lines.append(
            f"learned phrasings: {len(learned)} new ("
            + ", ".join(sorted({p["case"] for p in learned})[:SUMMARY_ITEMS])
            + ")"
        )
    if "search_log_scrubbed" in report:
        lines.append(f"search log: {report['search_log_scrubbed']} old search text(s) blanked")
    if saved_to is not None:
        lines.append(f"report: {saved_to}")
    return lines


def _quality_lines(quality: dict[str, Any] | None) -> list[str]:
    if not quality:
        return []
    if "skipped" in quality:
        return [f"quality: skipped ({quality['skipped']})"]
    delta = quality.get("delta") or {}
    shown = ", ".join(
        f"{name} {quality[key]:.3f}" + (f" ({delta[key]:+.3f})" if key in delta else "")
        for key, name in (("ndcg@10", "nDCG@10"), ("recall@5", "Recall@5"))
        if key in quality
    )
    note = " [carried over: nothing new was published]" if quality.get("carried_over") else ""
    if quality.get("drop"):
        note += f" DROPPED by more than {quality.get('tolerance')} since the previous run"
    return [f"quality: {shown} on {quality.get('queries', '?')} queries{note}"]
