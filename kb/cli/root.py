"""The root of the ``kb`` command: the group, its options, and what every command shares
(the settings, the store, the searcher, problem printing). Commands live in the sibling modules."""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from kb.errors import KBError, Problem
from kb.settings import Settings, load_settings


def settings_of(ctx: click.Context) -> Settings:
    """The settings the root command loaded (from any subcommand's context)."""
    return ctx.find_root().obj["settings"]


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
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    help="Config file (TOML); default $KB_CONFIG or ./kb.toml.",
)
@click.option(
    "--cases-dir",
    type=click.Path(file_okay=False),
    help="Override the cases folder (KB_CASES_DIR).",
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Override the data folder (KB_DATA_DIR)."
)
@click.pass_context
def main(
    ctx: click.Context, config: str | None, cases_dir: str | None, data_dir: str | None
) -> None:
    """Escalation KB: search past escalation cases by words, error codes and pasted logs."""
    try:
        settings = load_settings(config, cases_dir=cases_dir, data_dir=data_dir)
    except KBError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("alembic", "faiss.loader", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    ctx.obj = {"settings": settings}


def reading_store(settings: Settings):
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
    from kb.migrate import open_store

    return open_store(settings)


def store_of(ctx: click.Context):
    from kb.migrate import open_store

    return open_store(settings_of(ctx))


@contextlib.contextmanager
def one_shot() -> Iterator[None]:
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


def searcher_for(settings: Settings):
    from indexer.searcher import Searcher

    return Searcher(settings, reading_store(settings))


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def run() -> None:
    """Console-script entry point."""
    try:
        main(prog_name="kb")
    finally:
        # Everything the command loaded stays until the process ends anyway: moved out of the
        # collector's reach, the interpreter's last collections skip it (a search exits 0.15-0.2 s sooner).
        gc.freeze()
