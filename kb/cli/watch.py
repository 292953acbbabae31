"""The escalation team's commands: ``kb watch`` (bursts and alerts) and ``kb trends``."""

from __future__ import annotations

import json

import click

from kb.cli.root import main, settings_of, store_of
from kb.roles import ROLES, visibilities_for


@main.command()
@click.option(
    "--test",
    "test_alert",
    is_flag=True,
    help="Send a test alert through every configured channel and exit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@click.pass_context
def watch(ctx: click.Context, test_alert: bool, as_json: bool) -> None:
    """Detect bursts of searches for an error code or log signature and alert once per burst.

    Run it every few minutes (scripts/systemd/kb-watch.timer, scripts/cron/kb-watch.cron).
    Exit status: 0 ok, 1 some alert is still undelivered (kept and retried on the next run).
    """
    from kb.migrate import open_store
    from kb.watch import run_watch, send_test_alert, summary_lines

    settings = settings_of(ctx)
    if test_alert:
        results = send_test_alert(settings)
        for channel, error in results.items():
            click.echo(f"{channel}: {'delivered' if error is None else 'FAILED: ' + error}")
        ctx.exit(0 if all(e is None for e in results.values()) else 1)
    store = open_store(settings)
    try:
        report = run_watch(settings, store)
    finally:
        store.close()
    click.echo(
        json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(summary_lines(report))
    )
    ctx.exit(1 if report.undelivered else 0)


@main.command(name="trends")
@click.option(
    "--window",
    type=click.Choice(["hour", "day", "week"]),
    default="day",
    show_default=True,
    help="The window, ending now.",
)
@click.option("--product", default="", help="Only searches for this product.")
@click.option("--component", default="", help="Only searches for this component.")
@click.option(
    "--role",
    "searched_by",
    default="",
    help="Only searches made in this role (support, engineer, admin).",
)
@click.option(
    "--visible-to",
    default="support",
    show_default=True,
    help="List only the matching cases this role may read.",
)
@click.option(
    "--limit", default=20, show_default=True, type=int, help="How many codes and signatures."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def trends_command(
    ctx: click.Context,
    window: str,
    product: str,
    component: str,
    searched_by: str,
    visible_to: str,
    limit: int,
    as_json: bool,
) -> None:
    """Show the error codes and log signatures searched most now, against their 14-day baseline, rising first."""
    from kb import trends

    filters = trends.TrendFilters(product=product, component=component, role=searched_by)
    trends.check_filters(filters, ROLES)
    store = store_of(ctx)
    report = trends.keep_readable(
        store, trends.trends(store, window, filters, limit=limit), visibilities_for(visible_to)
    )
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in report.trends], ensure_ascii=False, indent=2))
        return
    for line in trends.format_report(report):
        click.echo(line)
