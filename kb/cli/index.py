"""Commands that index: ``kb index``, ``kb reindex``, ``kb nightly``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kb.cli.root import main, print_problems, settings_of
from kb.settings import Settings


@main.command()
@click.option("--quiet", is_flag=True, help="Print only problems and the summary line.")
@click.option(
    "--full",
    is_flag=True,
    help="Read and hash every case file (not only those whose size or time changed) and build a fresh generation.",
)
@click.option(
    "--wait", default=0.0, type=float, help="Seconds to wait for another running reindex."
)
@click.pass_context
def index(ctx: click.Context, quiet: bool, full: bool, wait: float) -> None:
    """Load new and changed case files into the store and publish an updated search index."""
    from indexer.jobs import run_index
    from kb.progress import Reporter

    settings = settings_of(ctx)
    report = run_index(settings, progress=None if quiet else Reporter(), full=full, wait=wait)
    refused = report.refused
    reasons = {p for r in refused for p in r.errors}
    print_problems(
        [p for p in report.problems if p not in reasons]
    )  # warnings; folder-level errors
    click.echo(report.summary())
    _warn_large_corpus(settings, report)
    if refused:  # last, so that no refusal scrolls away: each file and why, as file:line: message
        click.echo(
            f"refused {len(refused)} case file(s), not indexed (a version indexed before stays searchable):"
        )
        for refusal in refused:
            for line in refusal.lines():
                click.echo(line)
    ctx.exit(1 if report.failed else 0)


# indexer.engines.AUTO_CROSSOVER: where auto leaves whoosh (docs/performance.md, "Lexical engines")
WHOOSH_WARN_CASES = 200


def _warn_large_corpus(settings: Settings, report: Any) -> None:
    """Warn when whoosh, set explicitly, serves more cases than it answers in time (auto never does)."""
    build = report.build or {}
    count = build.get("case_count")
    if (
        count
        and count > WHOOSH_WARN_CASES
        and build.get("lexical_engine") == "whoosh"
        and settings.lexical_engine == "whoosh"
    ):
        click.echo(
            f"warning: {count} cases on the whoosh engine (KB_LEXICAL_ENGINE=whoosh); queries slow down as the corpus "
            "grows (see docs/performance.md; set KB_LEXICAL_ENGINE=auto or tantivy)",
            err=True,
        )


@main.command()
@click.option(
    "--full",
    is_flag=True,
    help="Read and hash every case file and build a fresh generation from scratch (published only when verified).",
)
@click.option(
    "--wait", default=0.0, type=float, help="Seconds to wait for another running reindex."
)
@click.pass_context
def reindex(ctx: click.Context, full: bool, wait: float) -> None:
    """Reindex: incremental by default, --full for a complete, verified rebuild."""
    ctx.invoke(index, quiet=False, full=full, wait=wait)


@main.command()
@click.option(
    "--pull",
    is_flag=True,
    help="Sync the cases repository first (kb sync: fetch, replay web edits, push; when it is a git checkout).",
)
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Evaluation queries for the quality check (default: the bundled set).",
)
@click.option(
    "--tolerance",
    default=0.02,
    show_default=True,
    type=float,
    help="Flag a drop of nDCG@10 or Recall@5 larger than this.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the JSON report here.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print the whole JSON report instead of the summary."
)
@click.pass_context
def nightly(
    ctx: click.Context,
    pull: bool,
    queries_file: Path | None,
    tolerance: float,
    report_file: Path | None,
    as_json: bool,
) -> None:
    """The scheduled job: pull, reindex, check quality and freshness; non-zero exit on trouble.

    Prints a one-screen summary (--json: the whole report). The JSON report is always kept in
    <data_dir>/reports/ (and written to --report FILE when given).

    Exit status: 0 ok, 1 some case files have errors, 2 the run failed, 3 search quality dropped,
    4 web edits wait for a merge (side branches), 5 the sync with the remote failed.
    """
    from indexer.nightly import (
        REPORTS,
        report_text,
        run_nightly,
        summary_lines,
    )
    from indexer.nightly import (
        report_file as kept_file,
    )
    from kb.progress import Reporter

    settings = settings_of(ctx)
    report, status = run_nightly(
        settings, pull=pull, queries_file=queries_file, tolerance=tolerance, progress=Reporter()
    )
    text = report_text(report)
    if report_file:
        report_file.write_text(text, "utf-8")
    if as_json:
        click.echo(text)
    else:
        click.echo(
            "\n".join(
                summary_lines(report, report_file or kept_file(settings.data_dir / REPORTS, report))
            )
        )
    ctx.exit(status)
