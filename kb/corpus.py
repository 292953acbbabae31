"""A folder (or list) of case files -> cases and problems, with the corpus-wide checks."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.authoring import mentioned_ids
from kb.case import Case
from kb.errors import Problem
from kb.parse import MARKDOWN_SUFFIXES, read_case_file
from kb.roles import reader_levels

IGNORED_NAMES = frozenset({"README.md", "readme.md", "TEMPLATE.md", "template.md"})


@dataclass
class CorpusLoad:
    """Result of loading many case files: the good cases and every problem."""

    cases: list[Case] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(1 for p in self.problems if p.is_error)


def display_path(path: Path, root: Path | None = None) -> str:
    """A short path for messages: relative to ``root`` or the current folder when possible."""
    for base in (root.parent if root else None, Path.cwd()):
        if base is None:
            continue
        try:
            return (
                os.path.relpath(path, base)
                if path.is_relative_to(base.resolve()) or not path.is_absolute()
                else str(path)
            )
        except ValueError:
            continue
    return str(path)


def find_case_files(root: Path) -> tuple[list[Path], list[Problem]]:
    """Markdown files under ``root`` (recursively, hidden folders skipped), sorted; other files are warned about."""
    files: list[Path] = []
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in IGNORED_NAMES:
                continue
            path = Path(dirpath) / name
            if name.lower().endswith(MARKDOWN_SUFFIXES):
                files.append(path)
            else:
                problems.append(
                    Problem(str(path), None, "not_markdown_ignored", severity="warning")
                )
    return files, problems


def expand_paths(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """Files named directly plus the case files inside named folders."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            found, warned = find_case_files(path)
            files += found
            problems += warned
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(str(path), None, "no_such_path"))
    return files, problems


def corpus_problems(
    cases: list[Case], unloaded: Iterable[str] = ()
) -> tuple[list[Case], list[Problem]]:
    """Ids unique across the corpus (later duplicates rejected), related ids that exist (warning).

    ``unloaded``: ids of case files that are there but failed their own checks (a file is named
    after its id). A case related to one of them is not told that it does not exist: the broken
    file's own errors are what to fix."""
    present = set(unloaded)
    first: dict[str, Case] = {}
    kept: list[Case] = []
    problems: list[Problem] = []
    for case in cases:
        if case.id in first:
            problems.append(
                Problem(
                    case.path,
                    2,
                    "duplicate_id",
                    {"id": case.id, "other": first[case.id].path},
                    "id",
                )
            )
            continue
        first[case.id] = case
        kept.append(case)
    for case in kept:
        for other in case.related:
            if other not in first and other not in present:
                problems.append(
                    Problem(case.path, None, "related_missing", {"id": other}, "related", "warning")
                )
    return kept, problems


def hidden_mentions(cases: list[Case], id_regex: re.Pattern[str]) -> list[Problem]:
    """Warnings for cases whose text or related list names a case that some of their readers may
    not open (a ``support`` case that mentions a ``restricted`` one): the reader sees an id that
    answers "not found". An author with the repository sees every file, so the warning may say
    which visibility the other case has (the web editor words it without saying, see webui.editor)."""
    by_id = {c.id: c for c in cases}
    problems = []
    for case in cases:
        levels = reader_levels(case.visibility)
        text = "\n".join([case.title, *(s.text for s in case.sections)])
        named = dict.fromkeys([*mentioned_ids(text, id_regex), *case.related])
        hidden = [
            cid
            for cid in named
            if cid != case.id and cid in by_id and by_id[cid].visibility not in levels
        ]
        for cid in hidden[:10]:
            problems.append(
                Problem(
                    case.path,
                    None,
                    "hidden_mention",
                    {
                        "id": cid,
                        "visibility": by_id[cid].visibility,
                        "case_visibility": case.visibility,
                    },
                    "related" if cid in case.related else "body",
                    "warning",
                )
            )
    return problems


def load_cases(
    paths: Iterable[Path],
    id_regex: re.Pattern[str],
    max_bytes: int,
    customer_domains: tuple[str, ...] = (),
) -> CorpusLoad:
    """Read and check every file; one bad file never stops the others."""
    files, problems = expand_paths(paths)
    result = CorpusLoad(problems=problems)
    parsed: list[Case] = []
    unloaded: list[str] = []
    for path in files:
        case, file_problems = read_case_file(
            path, id_regex, max_bytes, customer_domains=customer_domains
        )
        result.problems += file_problems
        if case is None:
            result.failed.append(str(path))
            unloaded.append(path.stem)
        else:
            parsed.append(case)
    result.cases, extra = corpus_problems(parsed, unloaded)
    extra += hidden_mentions(result.cases, id_regex)
    result.problems += extra
    result.failed += [p.path for p in extra if p.is_error]
    return result


def case_file_ids(root: Path) -> set[str]:
    """The ids the case files under ``root`` are named after (a file owns its id before it is
    indexed, and while it has errors); empty when the folder does not exist."""
    if not root.is_dir():
        return set()
    files, _ = find_case_files(root)
    return {f.stem for f in files}
