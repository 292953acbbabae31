"""Commands that search: ``kb search``, ``kb similar``, ``kb signature``, ``kb eval``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from kb.cli.hits import print_hits
from kb.cli.root import main, one_shot, plural, searcher_for, settings_of

_FILTER_OPTIONS = ("product", "component", "status", "tag", "version")


@main.command()
@click.argument("query", required=False)
@click.option(
    "--log",
    "log_file",
    type=click.File("r", encoding="utf-8", errors="replace"),
    help="Read a pasted log from FILE ('-' for stdin).",
)
@click.option("--product", multiple=True, help="Only this product (repeatable).")
@click.option("--component", multiple=True, help="Only this component (repeatable).")
@click.option(
    "--status", multiple=True, help="Only this status: resolved, workaround, known-issue."
)
@click.option("--tag", multiple=True, help="Only cases with this tag.")
@click.option("--version", multiple=True, help="Only cases affecting this version.")
@click.option("--from", "date_from", help="Created on or after YYYY-MM-DD.")
@click.option("--to", "date_to", help="Created on or before YYYY-MM-DD.")
@click.option(
    "--role",
    default="engineer",
    show_default=True,
    help="Search as this role: support, engineer, admin.",
)
@click.option(
    "--limit", default=None, type=int, help="Number of hits (default: setting search_limit)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the search response as JSON (hits, total, weak candidates).",
)
@click.pass_context
def search(
    ctx: click.Context,
    query: str | None,
    log_file: Any,
    date_from: str | None,
    date_to: str | None,
    role: str,
    limit: int | None,
    as_json: bool,
    **filters: tuple[str, ...],
) -> None:
    """Search past cases by words, an error code or a pasted log.

    Prints how many cases match (each with why), then weak candidates that are not counted.
    """
    from kb.spinner import Spinner

    settings = settings_of(ctx)
    text = "\n".join(filter(None, [query, log_file.read() if log_file else None]))
    with Spinner("searching"), one_shot():  # a spinner on a terminal once the wait passes a second
        from indexer.filters import parse_filters
        from indexer.searcher import SearchRequest

        params = {k: list(v) for k, v in filters.items()}
        params.update({"from": [date_from or ""], "to": [date_to or ""]})
        request = SearchRequest(
            text=text,
            filters=parse_filters(params),
            role=role,
            limit=limit or settings.search_limit,
        )
        response = searcher_for(settings).search(request)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_hits(response, text)


@main.command()
@click.argument("case_id")
@click.option("--role", default="engineer", show_default=True, help="Search as this role.")
@click.option("--limit", default=5, show_default=True, type=int, help="Number of similar cases.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.pass_context
def similar(ctx: click.Context, case_id: str, role: str, limit: int, as_json: bool) -> None:
    """List cases similar to CASE_ID."""
    from kb.spinner import Spinner

    with Spinner("searching"), one_shot():
        response = searcher_for(settings_of(ctx)).similar(case_id, role=role, limit=limit)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        print_hits(response, similar_to=case_id)


@main.command()
@click.argument("lines", required=False)
@click.option(
    "--log",
    "log_file",
    type=click.File("r", encoding="utf-8", errors="replace"),
    help="Read the log lines from FILE ('-' for stdin).",
)
@click.option(
    "--role",
    default="engineer",
    show_default=True,
    help="Answer as this role: support, engineer, admin.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the signatures' facts as JSON.")
@click.pass_context
def signature(
    ctx: click.Context, lines: str | None, log_file: Any, role: str, as_json: bool
) -> None:
    """Show the log signature of each pasted LINE: its cases, searches, first/last seen and verdicts."""
    from kb.signatures import reports_for_text

    settings = settings_of(ctx)
    with one_shot():
        found = reports_for_text(
            searcher_for(settings),
            (log_file.read() if log_file else lines) or "",
            role,
            customer_domains=settings.customer_domain_list,
        )
    if as_json:
        click.echo(
            json.dumps(
                [
                    report.to_dict()
                    if report
                    else {"signature_id": sig, "templates": [template], "found": False}
                    for sig, template, report in found
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for sig, template, report in found:
        click.echo(f"{sig}  {template}")
        if report is None:
            click.echo("  no case has it and nobody searched for it: a new problem")
            continue
        for case in report.cases:
            click.echo(f"  {case.id}  {case.title}  [{', '.join(case.versions)}]  {case.status}")
        seen = (
            f"first seen {report.first_seen:%Y-%m-%d %H:%M}, last seen {report.last_seen:%Y-%m-%d %H:%M} UTC"
            if report.first_seen and report.last_seen
            else "never searched"
        )
        click.echo(
            f"  {plural(len(report.cases), 'case', 'cases')}; {plural(report.searches, 'search', 'searches')} "
            f"({report.zero_results} with no result); {seen}"
        )
        click.echo(
            "  verdicts: "
            + ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in report.verdicts.items())
        )
        if report.new_problem:
            click.echo(
                "  a new problem: "
                + (
                    "no case has this signature"
                    if not report.cases
                    else "its searches end escalated"
                )
            )


@main.command(name="eval")
@click.option(
    "--queries",
    "queries_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Evaluation queries (JSON Lines; repeat for several files; a query without relevant cases is "
    "unanswerable and scored on whether it shows no match); default: the bundled set, against KB_CASES_DIR.",
)
@click.option(
    "--beir",
    "beir_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv) instead.",
)
@click.option("--max-queries", type=int, help="Use only the first N queries.")
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also score a lexical index built with a default analyzer (no Japanese splitting).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by leg.")
@click.pass_context
def eval_command(
    ctx: click.Context,
    queries_file: tuple[Path, ...],
    beir_dir: Path | None,
    max_queries: int | None,
    baseline: bool,
    as_json: bool,
) -> None:
    """Measure search quality: nDCG@10, Recall@1/5/10, MRR@10 per leg and for the hybrid."""
    from indexer.dense import encoder_for
    from indexer.evaluate import eval_inputs, evaluate, format_report

    settings = settings_of(ctx)
    cases, queries, title = eval_inputs(settings, beir_dir, queries_file, max_queries)
    encoder = encoder_for(settings)
    progress = None if as_json else (lambda msg: click.echo(msg, err=True))
    report = evaluate(cases, queries, settings, encoder, baseline=baseline, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(
            format_report(report, f"{title}: {len(cases)} documents, {len(queries)} queries")
        )
