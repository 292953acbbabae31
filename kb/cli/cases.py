"""Commands on case files: ``kb lint``, ``kb new``, ``kb redact``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kb.cli.root import main, print_problems, settings_of


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def lint(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check case files (default: the cases folder); exit 1 when any error is found."""
    from kb.corpus import load_cases

    settings = settings_of(ctx)
    result = load_cases(
        paths or (settings.cases_dir,),
        settings.id_regex,
        settings.max_case_bytes,
        settings.customer_domain_list,
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "cases": len(result.cases),
                    "errors": result.error_count,
                    "problems": [p.to_dict() for p in result.problems],
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:
        print_problems(result.problems)
        warnings = len(result.problems) - result.error_count
        click.echo(
            f"{len(result.cases)} case(s) OK, {len(set(result.failed))} file(s) with errors, "
            f"{result.error_count} error(s), {warnings} warning(s)"
        )
    ctx.exit(1 if result.error_count else 0)


@main.command()
@click.option(
    "--lang",
    type=click.Choice(["ja", "en"]),
    default="ja",
    show_default=True,
    help="Template language.",
)
@click.option("--title", default="", help="The case title.")
@click.option("--author", default=None, help="Author login (default: from git config).")
@click.option("--product", default="tsumugi-server", show_default=True, help="Product.")
@click.option("--component", default="", help="Component.")
@click.option("--id", "case_id", default=None, help="Use this id instead of the next free one.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the case instead of writing it.")
@click.pass_context
def new(
    ctx: click.Context,
    lang: str,
    title: str,
    author: str | None,
    product: str,
    component: str,
    case_id: str | None,
    to_stdout: bool,
) -> None:
    """Create a case file from the template with the next free id, ready to edit."""
    from datetime import date

    from kb.authoring import git_author, next_case_id, save_case_file, template
    from kb.corpus import find_case_files

    settings = settings_of(ctx)
    files, _ = find_case_files(settings.cases_dir) if settings.cases_dir.is_dir() else ([], [])
    today = date.today()
    case_id = case_id or next_case_id([f.stem for f in files], settings.id_regex, today)
    if not settings.id_regex.fullmatch(case_id):
        raise click.BadParameter(
            f"'{case_id}' does not match the id pattern {settings.id_pattern}", param_hint="--id"
        )
    text = template(
        lang, case_id, title, author or git_author(settings.cases_dir), today, product, component
    )
    if to_stdout:
        click.echo(text, nl=False)
        return
    result = save_case_file(settings.cases_dir, case_id, text, None)
    click.echo(str(result.path))


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--dry-run", is_flag=True, help="Show what would be replaced without writing.")
@click.pass_context
def redact(ctx: click.Context, files: tuple[Path, ...], dry_run: bool) -> None:
    """Replace likely personal or secret data (e-mail, phone, IP, customer domains, credentials) with placeholders."""
    from kb import history
    from kb.authoring import file_hash, save_case_file
    from kb.sensitive import redact as apply_redaction
    from kb.sensitive import scan_case_text

    settings = settings_of(ctx)
    repo = history.repo_for(settings)
    for path in files:
        # the cases repository's write lock, as the web's saves take it: a save that fails and
        # puts its file back (kb.history.undone_on_failure) never undoes a redaction made meanwhile
        with history.writing(repo):
            text = path.read_text("utf-8")
            findings = scan_case_text(text, settings.customer_domain_list)
            for f in findings:
                click.echo(f"{path}:{f.line}: {f.kind}: '{f.text}' -> {f.placeholder}")
            if findings and not dry_run:
                redacted = apply_redaction(text, findings)
                save_case_file(path.parent, path.stem, redacted, file_hash(path))
        click.echo(f"{path}: {len(findings)} replacement(s){' (dry run)' if dry_run else ''}")
