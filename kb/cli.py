"""The ``kb`` command: thin click commands over library calls."""

from __future__ import annotations

import contextlib
import gc
import html
import json
import logging
import sys
from pathlib import Path
from typing import Any, Iterator

import click

from kb.errors import KBError, Problem
from kb.settings import Settings, load_settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


def print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(str(problem), err=True)


class KBGroup(click.Group):
    """Turns every :class:`KBError` into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KBError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)


@click.group(cls=KBGroup)
@click.option("--config", type=click.Path(dir_okay=False), help="Config file (TOML); default $KB_CONFIG or ./kb.toml.")
@click.option("--cases-dir", type=click.Path(file_okay=False), help="Override the cases folder (KB_CASES_DIR).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Override the data folder (KB_DATA_DIR).")
@click.pass_context
def main(ctx: click.Context, config: str | None, cases_dir: str | None, data_dir: str | None) -> None:
    """Escalation KB: search past escalation cases by words, error codes and pasted logs."""
    try:
        settings = load_settings(config, cases_dir=cases_dir, data_dir=data_dir)
    except KBError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.obj = {"settings": settings}


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_context
def lint(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Check case files (default: the cases folder); exit 1 when any error is found."""
    from kb.corpus import load_cases

    settings = _settings(ctx)
    result = load_cases(paths or (settings.cases_dir,), settings.id_regex, settings.max_case_bytes,
                        settings.customer_domain_list)
    if as_json:
        click.echo(json.dumps({"cases": len(result.cases), "errors": result.error_count,
                               "problems": [p.to_dict() for p in result.problems]}, ensure_ascii=False, indent=2))
    else:
        print_problems(result.problems)
        warnings = len(result.problems) - result.error_count
        click.echo(f"{len(result.cases)} case(s) OK, {len(set(result.failed))} file(s) with errors, "
                   f"{result.error_count} error(s), {warnings} warning(s)")
    ctx.exit(1 if result.error_count else 0)


@main.command()
@click.option("--quiet", is_flag=True, help="Print only problems and the summary line.")
@click.option("--full", is_flag=True, help="Read and hash every case file (not only those whose size or time changed) and build a fresh generation.")
@click.option("--wait", default=0.0, type=float, help="Seconds to wait for another running reindex.")
@click.pass_context
def index(ctx: click.Context, quiet: bool, full: bool, wait: float) -> None:
    """Load new and changed case files into the store and publish an updated search index."""
    from kb.pipeline import run_index

    from kb.progress import Reporter

    settings = _settings(ctx)
    report = run_index(settings, progress=None if quiet else Reporter(), full=full, wait=wait)
    refused = report.refused
    reasons = {p for r in refused for p in r.errors}
    print_problems([p for p in report.problems if p not in reasons])  # warnings; folder-level errors
    click.echo(report.summary())
    _warn_large_corpus(settings, report)
    if refused:  # last, so that no refusal scrolls away: each file and why, as file:line: message
        click.echo(f"refused {len(refused)} case file(s), not indexed (a version indexed before stays searchable):")
        for refusal in refused:
            for line in refusal.lines():
                click.echo(line)
    ctx.exit(1 if report.failed else 0)


WHOOSH_WARN_CASES = 1000  # measured: whoosh passes 50 ms p95 on words and logs at ~750 cases (README, "Speed")


def _warn_large_corpus(settings: Settings, report: Any) -> None:
    count = report.build.get("case_count") if report.build else None
    if count and count > WHOOSH_WARN_CASES and settings.lexical_engine == "whoosh":
        click.echo(f"warning: {count} cases on the whoosh engine; queries slow down as the corpus grows "
                   "(see the README's speed section; set KB_LEXICAL_ENGINE=tantivy)", err=True)


@main.command()
@click.option("--full", is_flag=True, help="Read and hash every case file and build a fresh generation from scratch (published only when verified).")
@click.option("--wait", default=0.0, type=float, help="Seconds to wait for another running reindex.")
@click.pass_context
def reindex(ctx: click.Context, full: bool, wait: float) -> None:
    """Reindex: incremental by default, --full for a complete, verified rebuild."""
    ctx.invoke(index, quiet=False, full=full, wait=wait)


@main.command()
@click.option("--pull", is_flag=True, help="git pull --ff-only in the cases folder first (when it is a git checkout).")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Evaluation queries for the quality check (default: the bundled set).")
@click.option("--tolerance", default=0.02, show_default=True, type=float, help="Flag a drop of nDCG@10 or Recall@5 larger than this.")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON report here.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole JSON report instead of the summary.")
@click.pass_context
def nightly(ctx: click.Context, pull: bool, queries_file: Path | None, tolerance: float, report_file: Path | None,
            as_json: bool) -> None:
    """The scheduled job: pull, reindex, check quality and freshness; non-zero exit on trouble.

    Prints a one-screen summary (--json: the whole report). The JSON report is always kept in
    <data_dir>/reports/ (and written to --report FILE when given).

    Exit status: 0 ok, 1 some case files have errors, 2 the run failed, 3 search quality dropped.
    """
    from kb.nightly import REPORTS, report_file as kept_file, report_text, run_nightly, summary_lines
    from kb.progress import Reporter

    settings = _settings(ctx)
    report, status = run_nightly(settings, pull=pull, queries_file=queries_file, tolerance=tolerance, progress=Reporter())
    text = report_text(report)
    if report_file:
        report_file.write_text(text, "utf-8")
    if as_json:
        click.echo(text)
    else:
        click.echo("\n".join(summary_lines(report, report_file or kept_file(settings.data_dir / REPORTS, report))))
    ctx.exit(status)


@main.command()
@click.option("--test", "test_alert", is_flag=True, help="Send a test alert through every configured channel and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's report as JSON.")
@click.pass_context
def watch(ctx: click.Context, test_alert: bool, as_json: bool) -> None:
    """Detect bursts of searches for an error code or log signature and alert once per burst.

    Run it every few minutes (scripts/systemd/kb-watch.timer, scripts/cron/kb-watch.cron).
    Exit status: 0 ok, 1 some alert is still undelivered (kept and retried on the next run).
    """
    import json

    from kb.pipeline import open_store
    from kb.watch import run_watch, send_test_alert, summary_lines

    settings = _settings(ctx)
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
    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else "\n".join(summary_lines(report)))
    ctx.exit(1 if report.undelivered else 0)


def _reading_store(settings: Settings):  # type: ignore[no-untyped-def]
    """The store for a command that only reads: opened as it is when it stands at the code's
    schema revision (no Alembic import, see kb.schema), else migrated like every other command."""
    from kb import schema
    from kb.store import Store

    url = settings.resolved_database_url
    if not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file():
        store = Store(url, settings.db_pool_size, settings.db_max_overflow)
        if schema.is_current(store.engine):
            return store
        store.close()
    from kb.pipeline import open_store

    return open_store(settings)


@contextlib.contextmanager
def _one_shot() -> Iterator[None]:
    """A one-shot read (a search): the cyclic garbage collector paused while it imports and answers.
    Imports make a million objects and no garbage worth a collection; the passes cost about 0.07 s
    of a search's one second. The collector runs again afterwards (it matters in tests and servers)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _searcher(settings: Settings):  # type: ignore[no-untyped-def]
    from indexer.searcher import Searcher

    return Searcher(settings, _reading_store(settings))


LANGUAGES = {"ja": "Japanese", "en": "English"}
KINDS = {"words": "words", "code": "error code", "log": "log"}


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def _terms(hit: Any, query_text: str) -> list[str]:
    """The query's words as the case writes them (the explanation's), else the matched terms."""
    from indexer.highlight import readable_terms

    explained = (hit.why.get("explain") or {}).get("words")
    return list(explained) if explained else readable_terms(hit.why.get("matched_terms") or [], query_text)


def _listed(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def _reason_phrases(hit: Any, query_text: str) -> list[str]:
    """Why a hit is listed, one sentence per reason of ``why["reasons"]`` (the web UI's English
    sentences, webui.i18n ``why.*``); empty for a weak candidate."""
    explain = hit.why.get("explain") or {}
    phrases: list[str] = []
    for reason in hit.why.get("reasons") or []:
        if reason == "exact_code":
            codes = explain.get("codes") or []
            phrases.append(f"lists error code {_listed(codes)}, which your query names" if codes
                           else "lists an error code your query names")
        elif reason == "words":
            codes = {c.casefold() for c in explain.get("codes") or []} if "exact_code" in hit.why.get("reasons") else set()
            words = [w for w in _terms(hit, query_text) if w.casefold() not in codes]  # a listed code is said once
            if words or not codes:
                phrases.append(f"holds your words: {_listed(words, 6)}" if words else "holds most of your words")
        elif reason == "log":
            lines = explain.get("log_lines") or []
            if lines:
                from indexer.explain import line_ranges  # only an explained hit names log lines

                phrases.append(f"same log signature as line{'s' if len(lines) > 1 else ''} {line_ranges(lines)} of your paste")
            else:
                phrases.append("its logs have the same signature as your paste")
        elif reason == "meaning":
            phrases.append("close in meaning: it stands out from the other candidates")
        elif reason.startswith("related:"):
            related = explain.get("related") or {"id": reason.split(":", 1)[1]}
            via = related.get("codes") or related.get("words") or []
            phrases.append(f"related to {related['id']}, which matched" + (f" {_listed(via, 3)}" if via else ""))
        elif reason == "nearest":
            phrases.append("similar content")
        else:
            phrases.append(reason)
    return list(dict.fromkeys(phrases))


def _hit_heading(n: int | None, hit: Any) -> str:
    other = f"  ({LANGUAGES.get(hit.lang, hit.lang)} case)" if hit.other_language else ""
    number = f"{n}. " if n is not None else "- "
    return f"{number}{hit.id}  {hit.title}  [{hit.status}] {', '.join(hit.versions)}{other}".rstrip()


def _print_hits(response: Any, query_text: str | None = None, similar_to: str | None = None) -> None:
    """The human form of a search response: the matches, counted, then the weak candidates apart."""
    from indexer.highlight import plain_text

    query = response.query
    text = query_text or query["text"]
    kind = f"{LANGUAGES.get(query['lang'], query['lang'])} {KINDS.get(query['kind'], query['kind'])} query"
    if similar_to:
        head, kind = f"{_plural(len(response.hits), 'case', 'cases')} similar to {similar_to}", "nearest first"
    elif response.total:
        head = _plural(response.total, "case matches", "cases match")
    else:
        head = "No case matches"
    click.echo(f"{head} ({kind}, {response.took_ms:.0f} ms, {response.generation})")
    for n, hit in enumerate(response.hits, start=1):
        why = hit.why
        ranks = ", ".join(f"{leg} #{why[leg]}" for leg in ("lexical", "signature", "dense", "sparse") if why.get(leg))
        click.echo(f"\n{_hit_heading(n, hit)}")
        phrases = _reason_phrases(hit, text)
        if phrases:
            click.echo(f"   why: {'; '.join(phrases)}")
        click.echo(f"   matched {hit.section_heading or '-'}" + (f" ({ranks})" if ranks else ""))
        if hit.snippet:
            click.echo("   " + html.unescape(plain_text(hit.snippet.replace("<mark>", "[").replace("</mark>", "]"))))
        if hit.resolution:
            click.echo(f"   → {hit.resolution}")
    shown = response.total - len(response.hits)
    if shown > 0 and response.hits and not similar_to:
        click.echo(f"\n({_plural(shown, 'more match', 'more matches')} not shown; use --limit)")
    weak = getattr(response, "weak", None) or []
    if weak:
        click.echo(f"\nWeak candidates, not counted (no evidence of a match of their own): {len(weak)}")
        for hit in weak:
            click.echo(_hit_heading(None, hit))
            terms = _terms(hit, text)
            if terms:
                click.echo(f"    shares: {', '.join(terms)}")


_FILTER_OPTIONS = ("product", "component", "status", "tag", "version")


@main.command()
@click.argument("query", required=False)
@click.option("--log", "log_file", type=click.File("r", encoding="utf-8", errors="replace"), help="Read a pasted log from FILE ('-' for stdin).")
@click.option("--product", multiple=True, help="Only this product (repeatable).")
@click.option("--component", multiple=True, help="Only this component (repeatable).")
@click.option("--status", multiple=True, help="Only this status: resolved, workaround, known-issue.")
@click.option("--tag", multiple=True, help="Only cases with this tag.")
@click.option("--version", multiple=True, help="Only cases affecting this version.")
@click.option("--from", "date_from", help="Created on or after YYYY-MM-DD.")
@click.option("--to", "date_to", help="Created on or before YYYY-MM-DD.")
@click.option("--role", default="engineer", show_default=True, help="Search as this role: support, engineer, admin.")
@click.option("--limit", default=None, type=int, help="Number of hits (default: setting search_limit).")
@click.option("--json", "as_json", is_flag=True, help="Print the search response as JSON (hits, total, weak candidates).")
@click.pass_context
def search(ctx: click.Context, query: str | None, log_file: Any, date_from: str | None, date_to: str | None,
           role: str, limit: int | None, as_json: bool, **filters: tuple[str, ...]) -> None:
    """Search past cases by words, an error code or a pasted log.

    Prints how many cases match (each with why), then weak candidates that are not counted.
    """
    from kb.spinner import Spinner

    settings = _settings(ctx)
    text = "\n".join(filter(None, [query, log_file.read() if log_file else None]))
    with Spinner("searching"), _one_shot():  # a spinner on a terminal once the wait passes a second
        from indexer.filters import parse_filters
        from indexer.searcher import SearchRequest

        params = {k: list(v) for k, v in filters.items()}
        params.update({"from": [date_from or ""], "to": [date_to or ""]})
        request = SearchRequest(text=text, filters=parse_filters(params), role=role, limit=limit or settings.search_limit)
        response = _searcher(settings).search(request)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_hits(response, text)


@main.command()
@click.argument("case_id")
@click.option("--role", default="engineer", show_default=True, help="Search as this role.")
@click.option("--limit", default=5, show_default=True, type=int, help="Number of similar cases.")
@click.option("--json", "as_json", is_flag=True, help="Print the hits as JSON.")
@click.pass_context
def similar(ctx: click.Context, case_id: str, role: str, limit: int, as_json: bool) -> None:
    """List cases similar to CASE_ID."""
    from kb.spinner import Spinner

    with Spinner("searching"), _one_shot():
        response = _searcher(_settings(ctx)).similar(case_id, role=role, limit=limit)
    if as_json:
        click.echo(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        _print_hits(response, similar_to=case_id)


@main.command()
@click.argument("lines", required=False)
@click.option("--log", "log_file", type=click.File("r", encoding="utf-8", errors="replace"), help="Read the log lines from FILE ('-' for stdin).")
@click.option("--role", default="engineer", show_default=True, help="Answer as this role: support, engineer, admin.")
@click.option("--json", "as_json", is_flag=True, help="Print the signatures' facts as JSON.")
@click.pass_context
def signature(ctx: click.Context, lines: str | None, log_file: Any, role: str, as_json: bool) -> None:
    """Show the log signature of each pasted LINE: its cases, searches, first/last seen and verdicts."""
    from kb.signatures import reports_for_text

    settings = _settings(ctx)
    with _one_shot():
        found = reports_for_text(_searcher(settings), (log_file.read() if log_file else lines) or "", role,
                                 customer_domains=settings.customer_domain_list)
    if as_json:
        click.echo(json.dumps([report.to_dict() if report else {"signature_id": sig, "templates": [template], "found": False}
                               for sig, template, report in found], ensure_ascii=False, indent=2))
        return
    for sig, template, report in found:
        click.echo(f"{sig}  {template}")
        if report is None:
            click.echo("  no case has it and nobody searched for it: a new problem")
            continue
        for case in report.cases:
            click.echo(f"  {case.id}  {case.title}  [{', '.join(case.versions)}]  {case.status}")
        seen = (f"first seen {report.first_seen:%Y-%m-%d %H:%M}, last seen {report.last_seen:%Y-%m-%d %H:%M} UTC"
                if report.first_seen and report.last_seen else "never searched")
        click.echo(f"  {_plural(len(report.cases), 'case', 'cases')}; {_plural(report.searches, 'search', 'searches')} "
                   f"({report.zero_results} with no result); {seen}")
        click.echo("  verdicts: " + ", ".join(f"{name.replace('_', ' ')} {n}" for name, n in report.verdicts.items()))
        if report.new_problem:
            click.echo("  a new problem: " + ("no case has this signature" if not report.cases else "its searches end escalated"))


@main.command(name="eval")
@click.option("--queries", "queries_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), multiple=True,
              help="Evaluation queries (JSON Lines; repeat for several files; a query without relevant cases is "
                   "unanswerable and scored on whether it shows no match); default: the bundled set, against KB_CASES_DIR.")
@click.option("--beir", "beir_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv) instead.")
@click.option("--max-queries", type=int, help="Use only the first N queries.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also score a lexical index built with a default analyzer (no Japanese splitting).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object keyed by leg.")
@click.pass_context
def eval_command(ctx: click.Context, queries_file: tuple[Path, ...], beir_dir: Path | None, max_queries: int | None,
                 baseline: bool, as_json: bool) -> None:
    """Measure search quality: nDCG@10, Recall@1/5/10, MRR@10 per leg and for the hybrid."""
    from indexer.dense import encoder_for
    from indexer.evaluate import eval_inputs, evaluate, format_report

    settings = _settings(ctx)
    cases, queries, title = eval_inputs(settings, beir_dir, queries_file, max_queries)
    encoder = encoder_for(settings)
    progress = None if as_json else (lambda msg: click.echo(msg, err=True))
    report = evaluate(cases, queries, settings, encoder, baseline=baseline, progress=progress)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_report(report, f"{title}: {len(cases)} documents, {len(queries)} queries"))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--debug", is_flag=True, help="Flask debug mode (never in production).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, debug: bool) -> None:
    """Serve the search web UI and JSON API (development server; see the README for gunicorn).

    With auth_mode 'auto' (the default), a loopback address means local single-user mode (no
    login) and any other address means accounts (log in; create users with 'kb user add').
    """
    import ipaddress

    from webui import create_app

    settings = _settings(ctx)
    mode = settings.auth_mode
    if mode == "auto":
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        mode = "local" if loopback else "accounts"
    click.echo(f"auth: {mode}" + (f" (one local user with the {settings.local_role} role, no login)" if mode == "local" else ""), err=True)
    app = create_app(settings, test_config={"KB_AUTH_MODE": mode}, warm_up=True)
    app.run(host=host, port=port, debug=debug, use_reloader=False)


@main.command()
@click.option("--lang", type=click.Choice(["ja", "en"]), default="ja", show_default=True, help="Template language.")
@click.option("--title", default="", help="The case title.")
@click.option("--author", default=None, help="Author login (default: from git config).")
@click.option("--product", default="tsumugi-server", show_default=True, help="Product.")
@click.option("--component", default="", help="Component.")
@click.option("--id", "case_id", default=None, help="Use this id instead of the next free one.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the case instead of writing it.")
@click.pass_context
def new(ctx: click.Context, lang: str, title: str, author: str | None, product: str, component: str,
        case_id: str | None, to_stdout: bool) -> None:
    """Create a case file from the template with the next free id, ready to edit."""
    from datetime import date

    from kb.authoring import git_author, next_case_id, save_case_file, template
    from kb.corpus import find_case_files

    settings = _settings(ctx)
    files, _ = find_case_files(settings.cases_dir) if settings.cases_dir.is_dir() else ([], [])
    today = date.today()
    case_id = case_id or next_case_id([f.stem for f in files], settings.id_regex, today)
    if not settings.id_regex.fullmatch(case_id):
        raise click.BadParameter(f"'{case_id}' does not match the id pattern {settings.id_pattern}", param_hint="--id")
    text = template(lang, case_id, title, author or git_author(settings.cases_dir), today, product, component)
    if to_stdout:
        click.echo(text, nl=False)
        return
    result = save_case_file(settings.cases_dir, case_id, text, None)
    click.echo(str(result.path))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would be replaced without writing.")
@click.pass_context
def redact(ctx: click.Context, files: tuple[Path, ...], dry_run: bool) -> None:
    """Replace likely personal or secret data (e-mail, phone, IP, customer domains, credentials) with placeholders."""
    from kb.authoring import file_hash, save_case_file
    from kb.sensitive import redact as apply_redaction
    from kb.sensitive import scan_case_text

    settings = _settings(ctx)
    for path in files:
        text = path.read_text("utf-8")
        findings = scan_case_text(text, settings.customer_domain_list)
        for f in findings:
            click.echo(f"{path}:{f.line}: {f.kind}: '{f.text}' -> {f.placeholder}")
        if findings and not dry_run:
            save_case_file(path.parent, path.stem, apply_redaction(text, findings), file_hash(path))
        click.echo(f"{path}: {len(findings)} replacement(s){' (dry run)' if dry_run else ''}")


@main.group()
def db() -> None:
    """Store schema migrations (Alembic)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Migrate the store (KB_DATABASE_URL) to the current schema; run once per deploy."""
    from kb.migrate import head_revision, migrate

    settings = _settings(ctx.find_root())
    migrate(settings.resolved_database_url)
    click.echo(f"store at revision {head_revision()}")


@db.command("check")
@click.pass_context
def db_check(ctx: click.Context) -> None:
    """Exit 1 when the store is behind the code's schema."""
    from kb.migrate import current_revision, head_revision

    settings = _settings(ctx.find_root())
    current, head = current_revision(settings.resolved_database_url), head_revision()
    click.echo(f"store revision {current or '(none)'}, code revision {head}")
    ctx.exit(0 if current == head else 1)


def _store(ctx: click.Context):  # type: ignore[no-untyped-def]
    from kb.pipeline import open_store

    return open_store(_settings(ctx.find_root()))


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@main.group()
def user() -> None:
    """Built-in accounts: add, list, disable, change passwords."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["support", "engineer", "admin"]), required=True, help="The account's role.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of prompting.")
@click.option("--sso", is_flag=True, help="An account that logs in through the SSO proxy only (no password).")
@click.pass_context
def user_add(ctx: click.Context, name: str, role: str, password_stdin: bool, sso: bool) -> None:
    """Create account NAME with a role."""
    from kb.accounts import add_user, audit

    store = _store(ctx)
    add_user(store, name, role, None if sso else _read_password(password_stdin))
    audit(store, "cli", "admin", "user_add", name, detail={"role": role})
    click.echo(f"user {name} added ({role})")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List accounts with their roles."""
    from kb.accounts import list_users

    for u in list_users(_store(ctx)):
        state = "disabled" if u["disabled"] else "active"
        click.echo(f"{u['name']:<24} {u['role']:<9} {state:<9} {'password' if u['password'] else 'sso-only'}  last login {u['last_login_at'] or '-'}")


@user.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Disable account NAME and revoke its API tokens."""
    from kb.accounts import audit, disable_user

    store = _store(ctx)
    disable_user(store, name)
    audit(store, "cli", "admin", "user_disable", name)
    click.echo(f"user {name} disabled")


@user.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(["support", "engineer", "admin"]))
@click.pass_context
def user_role(ctx: click.Context, name: str, role: str) -> None:
    """Change the role of account NAME (its login sessions end at once)."""
    from kb.accounts import audit, set_role

    store = _store(ctx)
    set_role(store, name, role)
    audit(store, "cli", "admin", "user_role", name, detail={"role": role})
    click.echo(f"role of {name} changed to {role}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set the password of account NAME."""
    from kb.accounts import audit, set_password

    store = _store(ctx)
    set_password(store, name, _read_password(password_stdin))
    audit(store, "cli", "admin", "user_passwd", name)
    click.echo(f"password of {name} changed")


@main.group()
def token() -> None:
    """API tokens for scripts (sent as 'Authorization: Bearer ...')."""


@token.command("create")
@click.argument("name")
@click.option("--label", default="script", show_default=True, help="What the token is for.")
@click.pass_context
def token_create(ctx: click.Context, name: str, label: str) -> None:
    """Create a token acting as user NAME; it is printed once and stored only hashed."""
    from kb.accounts import audit, create_token

    store = _store(ctx)
    value = create_token(store, name, label)
    audit(store, "cli", "admin", "token_create", name, detail={"label": label})
    click.echo(value)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (never their values)."""
    from kb.accounts import list_tokens

    for t in list_tokens(_store(ctx)):
        click.echo(f"{t['id']:>4}  {t['user']:<20} {t['label']:<20} {'revoked' if t['revoked'] else 'active':<8} last used {t['last_used_at'] or '-'}")


@token.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
def token_revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke token TOKEN_ID."""
    from kb.accounts import audit, revoke_token

    store = _store(ctx)
    revoke_token(store, token_id)
    audit(store, "cli", "admin", "token_revoke", str(token_id))
    click.echo(f"token {token_id} revoked")


@main.command(name="trends")
@click.option("--window", type=click.Choice(["hour", "day", "week"]), default="day", show_default=True, help="The window, ending now.")
@click.option("--product", default="", help="Only searches for this product.")
@click.option("--component", default="", help="Only searches for this component.")
@click.option("--role", "searched_by", default="", help="Only searches made in this role (support, engineer, admin).")
@click.option("--visible-to", default="support", show_default=True, help="List only the matching cases this role may read.")
@click.option("--limit", default=20, show_default=True, type=int, help="How many codes and signatures.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def trends_command(ctx: click.Context, window: str, product: str, component: str, searched_by: str, visible_to: str,
                   limit: int, as_json: bool) -> None:
    """Show the error codes and log signatures searched most now, against their 14-day baseline, rising first."""
    import json

    from indexer.filters import ROLE_VISIBILITY, visibilities_for
    from kb import trends

    filters = trends.TrendFilters(product=product, component=component, role=searched_by)
    trends.check_filters(filters, tuple(ROLE_VISIBILITY))
    store = _store(ctx)
    report = trends.keep_readable(store, trends.trends(store, window, filters, limit=limit), visibilities_for(visible_to))
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in report.trends], ensure_ascii=False, indent=2))
        return
    for line in trends.format_report(report):
        click.echo(line)


@main.command(name="audit")
@click.option("--actor", help="Only this user.")
@click.option("--action", help="Only this action (login, login_failed, view_restricted, case_save, ...).")
@click.option("--limit", default=50, show_default=True, type=int, help="How many events.")
@click.pass_context
def audit_command(ctx: click.Context, actor: str | None, action: str | None, limit: int) -> None:
    """Show the audit log: logins, failures, views of restricted cases and every write."""
    from kb.accounts import audit_events

    for e in audit_events(_store(ctx), limit, actor, action):
        click.echo(f"{e['at']:%Y-%m-%d %H:%M:%S}  {e['actor']:<16} {e['role']:<9} {e['action']:<16} {e['target']}  {e['address']}")


def run() -> None:
    """Console-script entry point."""
    try:
        main(prog_name="kb")
    finally:
        # Everything the command loaded stays until the process ends anyway: moved out of the
        # collector's reach, the interpreter's last collections skip it (a search exits 0.15-0.2 s sooner).
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
