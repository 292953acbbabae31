"""Regenerate the manual's reference sections from the code.

* ``docs/cli.md``: every ``kb`` command and subcommand, from the click CLI's own help;
* ``docs/configuration.md``: every setting, from the ``kb.settings.Settings`` declaration.

Each page keeps its hand-written prose; only the part between the markers
``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name -->`` is rewritten.

Usage: ``python scripts/gen_docs.py`` rewrites stale pages; ``--check`` only reports them and
exits 1 when any page is stale (the test suite runs the same check in-process).
"""

from __future__ import annotations

import argparse
import dataclasses
import html
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

HELP_WIDTH = 100  # fixed, so the output does not depend on the terminal


class StaleMarkersError(Exception):
    """A page lacks the markers that delimit its generated part."""


def iter_commands(
    group: click.Group, prefix: str = "kb"
) -> Iterator[tuple[str, click.Command, click.Context]]:
    """Yield (full name, command, context) for every command below ``group``, depth first, sorted."""
    root = click.Context(
        group, info_name=prefix, terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH
    )
    yield from _walk(group, root, prefix)


def _walk(
    group: click.Group, parent: click.Context, prefix: str
) -> Iterator[tuple[str, click.Command, click.Context]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        ctx = click.Context(
            command,
            info_name=name,
            parent=parent,
            terminal_width=HELP_WIDTH,
            max_content_width=HELP_WIDTH,
        )
        full = f"{prefix} {name}"
        yield full, command, ctx
        if isinstance(command, click.Group):
            yield from _walk(command, ctx, full)


def render_cli() -> str:
    """The generated part of docs/cli.md: an index, then each command's ``--help``."""
    from kb.cli import main

    commands = list(iter_commands(main))
    lines = ["| command | what it does |", "| --- | --- |"]
    for full, command, _ctx in commands:
        summary = html.escape(command.get_short_help_str(limit=120), quote=False).replace(
            "|", "\\|"
        )
        lines.append(f"| [`{full}`](#{_anchor(full)}) | {summary} |")
    root = click.Context(
        main, info_name="kb", terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH
    )
    lines += ["", "## `kb`", "", "```text", root.command.get_help(root).rstrip(), "```"]
    for full, command, ctx in commands:
        level = "#" * min(2 + full.count(" ") - 1, 4)
        lines += ["", f"{level} `{full}`", "", "```text", command.get_help(ctx).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def _anchor(full: str) -> str:
    """The id MkDocs gives the heading "`kb db upgrade`": lower case, words joined by '-'."""
    return full.lower().replace(" ", "-")


def setting_rows() -> list[dict[str, str]]:
    """One row per setting: variable, type, default, help, in declaration order."""
    from kb import settings as declaration

    choices = getattr(
        declaration, "_ALLOWED", {}
    )  # the values a setting accepts, where it lists them
    rows = []
    for f in declaration.SETTINGS:
        kind = str(f.type)
        if f.name in choices:
            kind += ": " + ", ".join(f"`{value}`" for value in choices[f.name])
        rows.append(
            {
                "variable": f"KB_{f.name.upper()}",
                "name": f.name,
                "type": kind,
                "default": _default_text(f),
                "help": f.metadata["help"],
            }
        )
    return rows


def _default_text(f: dataclasses.Field[Any]) -> str:
    value = f.default
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return "(empty)"
    return f"`{value}`"


def render_settings() -> str:
    """The generated part of docs/configuration.md: one table row per setting."""
    lines = ["| variable | type, default | meaning |", "| --- | --- | --- |"]
    for row in setting_rows():
        meaning = html.escape(row["help"], quote=False).replace("|", "\\|")
        lines.append(
            f"| `{row['variable']}` | {row['type']}; default {row['default']} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


GENERATED: dict[str, tuple[str, Callable[[], str]]] = {
    "docs/cli.md": ("cli", render_cli),
    "docs/configuration.md": ("settings", render_settings),
}


def splice(page: str, name: str, body: str, path: str = "page") -> str:
    """``page`` with the text between the markers named ``name`` replaced by ``body``."""
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    if page.count(begin) != 1 or page.count(end) != 1 or page.index(begin) > page.index(end):
        raise StaleMarkersError(f"{path}: needs one '{begin}' followed by one '{end}'")
    head, rest = page.split(begin, 1)
    _old, tail = rest.split(end, 1)
    notice = "<!-- This part is written by scripts/gen_docs.py: edit the code, then run it. -->\n"
    return f"{head}{begin}\n{notice}\n{body}\n{end}{tail}"


def expected_pages(repo: Path = REPO) -> dict[str, str]:
    """Relative path -> the content each generated page should have now."""
    pages = {}
    for rel, (name, render) in GENERATED.items():
        current = (repo / rel).read_text("utf-8")
        pages[rel] = splice(current, name, render(), rel)
    return pages


def stale_pages(repo: Path = REPO) -> list[str]:
    """The generated pages whose content differs from what the code gives now."""
    return [
        rel for rel, text in expected_pages(repo).items() if (repo / rel).read_text("utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="report stale pages and exit 1; write nothing"
    )
    args = parser.parse_args(argv)
    try:
        pages = expected_pages()
    except StaleMarkersError as exc:
        print(f"gen_docs: {exc}", file=sys.stderr)
        return 2
    stale = [rel for rel, text in pages.items() if (REPO / rel).read_text("utf-8") != text]
    if args.check:
        for rel in stale:
            print(f"gen_docs: {rel} is stale: run python scripts/gen_docs.py", file=sys.stderr)
        return 1 if stale else 0
    for rel in stale:
        (REPO / rel).write_text(pages[rel], "utf-8")
        print(f"gen_docs: wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
