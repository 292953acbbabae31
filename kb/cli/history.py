"""The cases repository's commands: ``kb history`` (versions and diffs of a case) and ``kb sync``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from kb.cli.root import main, reading_store, settings_of


def _case(settings: Any, case_id: str, role: str) -> Any:
    """The case as the store has it (else as its file says), if ``role`` may read it."""
    from kb.errors import NotFoundError
    from kb.parse import parse_case
    from kb.roles import can_read_case

    store = reading_store(settings)
    try:
        case = store.get_case(case_id) if len(case_id) <= 64 else None
    finally:
        store.close()
    path = settings.cases_dir / f"{case_id}.md"
    if case is None and path.is_file() and "/" not in case_id:
        case = parse_case(path.read_text("utf-8"), path.name, settings.id_regex)
    if not can_read_case(case, role):
        raise NotFoundError(f"no case '{case_id[:64]}'")
    return case


def _runs_text(runs: Any, color: bool) -> str:
    out = []
    for op, text in runs:
        if op == "insert":
            out.append(click.style(text, fg="green", underline=True) if color else f"{{+{text}+}}")
        elif op == "delete":
            out.append(click.style(text, fg="red", strikethrough=True) if color else f"[-{text}-]")
        else:
            out.append(text)
    return "".join(out)


@main.command()
@click.argument("case_id")
@click.option(
    "--diff",
    "versions",
    nargs=2,
    metavar="A B",
    help="Show the changes from version A to version B (commit ids).",
)
@click.option(
    "--role",
    default="engineer",
    show_default=True,
    help="Show what this role may see: support, engineer, admin.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def history(
    ctx: click.Context, case_id: str, versions: tuple[str, str] | None, role: str, as_json: bool
) -> None:
    """List the versions of a case (author, date, summary), or show a diff section by section.

    Needs the cases folder to be a git working copy. A version is listed only when the role may
    read the case now and could read it as that version was.
    """
    from kb import history as kb_history

    settings = settings_of(ctx)
    case = _case(settings, case_id, role)
    repo = kb_history.repo_for(settings)
    path = kb_history.case_path(settings, case)
    found = kb_history.case_history(repo, path, case, role)
    if not found.available:
        raise click.ClickException(
            "the cases folder is not a git working copy: there is no history"
        )
    if versions:
        assert repo is not None
        old, new = (kb_history.version_text(repo, path, found, v) for v in versions)
        diff = kb_history.diff_texts(old, new)
        if as_json:
            click.echo(
                json.dumps(
                    {"case_id": case.id, "a": versions[0], "b": versions[1], **diff.to_dict()},
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        color = sys.stdout.isatty()
        for change in diff.fields:
            click.echo(f"{change.name}: {change.old or '—'} -> {change.new or '—'}")
        for section in diff.sections:
            if section.change != "same":
                click.echo(f"\n## {section.heading} ({section.change})")
                click.echo(_runs_text([(r.op, r.text) for r in section.runs], color))
        if not diff.changed:
            click.echo("no differences")
        return
    if as_json:
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
    for version in found.versions:
        click.echo(
            f"{version.commit.short}  {version.commit.date.strftime('%Y-%m-%d %H:%M')}  "
            f"{version.commit.author.name:<16} {version.commit.summary}"
        )
    if found.hidden:
        click.echo(
            f"({found.hidden} earlier version(s) not shown: the case was not visible to {role} then)"
        )
    for edit in found.pending:
        click.echo(
            f"waiting for merge: {edit.branch} by {edit.commit.author.name}: {edit.commit.summary}"
        )


@main.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sync_command(ctx: click.Context, as_json: bool) -> None:
    """Sync the cases repository with its remote: fetch, replay local edits on it, push.

    Uses the git_remote and git_branch settings. An edit that conflicts with an upstream change to
    the same case is kept on a side branch kb/pending/<case>-<sha> (pushed too) and listed.
    Exit status: 0 synced, 1 edits wait for a merge, 2 the sync failed or there is nothing to sync with.
    """
    from kb import history as kb_history
    from kb.repo import sync

    settings = settings_of(ctx)
    repo = kb_history.repo_for(settings)
    if repo is None:
        raise click.ClickException(f"{Path(settings.cases_dir)} is not a git working copy")
    result = sync(repo, settings.git_remote, settings.git_branch, cases_dir=settings.cases_dir)
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    elif result.error:
        click.echo(f"sync failed: {result.error}", err=True)
    elif not result.synced:
        click.echo(f"not synced: {result.reason}")
    else:
        click.echo(
            f"synced with {result.remote}/{result.branch}: {result.pulled} pulled, {result.replayed} replayed"
            + (", pushed" if result.pushed else "")
        )
    for rel in result.recovered:
        click.echo(f"committed {rel}, left uncommitted by an interrupted save")
    for item in result.waiting:
        click.echo(f"waiting for merge: {item['branch']} ({item['path']}, by {item['author']})")
    ctx.exit(2 if result.error or not result.synced else 1 if result.waiting else 0)
