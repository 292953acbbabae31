"""Case files -> :class:`~kb.case.Case`: decoding, front matter, H2 sections, validation.

``check_case_text`` is a pure function of the text; it collects every problem it finds
instead of stopping at the first. ``read_case_file`` adds the file-level checks (size,
extension, UTF-8).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from kb.case import Case, Section
from kb.errors import CaseFormatError, Problem
from kb.fields import validate_fields
from kb.headings import canonical_section, known_headings, section_label
from kb.messages import FRONT_MATTER_CODES
from kb.reading import read_case_bytes
from kb.sensitive import scan_case_text

# Bump when parsing or code extraction changes what a case holds for the same file: the next
# `kb index` then parses every file again and builds a full generation (indexer.jobs.run_index).
PARSE_VERSION = (
    3  # 3: the review field (a draft reads at the engineering level; its state is a filter value)
)

MARKDOWN_SUFFIXES = (".md", ".markdown")
DEFAULT_ID_REGEX = re.compile(r"ESC-\d{4}-\d{4}")
_KEY_LINE = re.compile(r"^([A-Za-z_][\w-]*)\s*:")


class _CaseLoader(yaml.SafeLoader):
    """Safe YAML without implicit timestamps: dates stay text and are checked by kb.fields."""


_CaseLoader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class RawSections:
    sections: list[Section]
    problems: list[Problem]


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").use(front_matter_plugin)


def _front_matter(
    text: str, path: str
) -> tuple[dict[str, Any], dict[str, int], int, list[Problem]]:
    """Parse the YAML front matter; returns (data, key -> line, first body line, problems)."""
    tokens = _md().parse(text)
    fm = next((t for t in tokens if t.type == "front_matter"), None)
    if fm is None or not text.startswith("---"):
        return {}, {}, 0, [_missing_front_matter(text, path)]
    assert fm.map is not None
    start, end = fm.map  # 0-based: the opening '---' line and the line after the closing one
    problems: list[Problem] = []
    key_lines: dict[str, int] = {}
    for offset, line in enumerate(fm.content.splitlines()):
        match = _KEY_LINE.match(line)
        if not match:
            continue
        key, lineno = match.group(1), start + 2 + offset
        if key in key_lines:
            problems.append(
                Problem(
                    path,
                    lineno,
                    "duplicate_field",
                    {"field": key, "first_line": key_lines[key]},
                    key,
                )
            )
        else:
            key_lines[key] = lineno
    try:
        data = yaml.load(fm.content, Loader=_CaseLoader) if fm.content.strip() else {}  # noqa: S506 (safe loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        at = start + 2 + mark.line if mark is not None else start + 1
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return (
            {},
            key_lines,
            end,
            problems + [Problem(path, at, "invalid_yaml", {"reason": str(reason)})],
        )
    if not isinstance(data, dict):
        return {}, key_lines, end, problems + [Problem(path, start + 1, "front_matter_not_mapping")]
    return data, key_lines, end, problems


def _missing_front_matter(text: str, path: str) -> Problem:
    """The problem of a file whose front matter markdown-it did not find, saying what is wrong
    when the file seems to have one: a '---' not at the very start, or no closing '---'."""
    lines = text.split("\n")
    opening = next((n for n, line in enumerate(lines[:20]) if line.strip() == "---"), None)
    if opening is None or not any(
        _KEY_LINE.match(line) for line in lines[opening + 1 : opening + 3]
    ):
        return Problem(path, 1, "missing_front_matter")
    if opening == 0 and lines[0] == "---":
        return Problem(path, 1, "front_matter_not_closed")
    if opening == 0:
        return Problem(path, 1, "front_matter_first_line", {"first_line": lines[0]})
    return Problem(path, 1, "front_matter_late", {"line": opening + 1})


def _looks_like_fields(heading: str) -> bool:
    """Whether a setext heading's text is YAML fields (``id: …`` lines): front matter that was not
    recognised, whose closing '---' underlined it as a heading."""
    lines = [line for line in heading.split("\n") if line.strip()]
    return bool(lines) and all(
        _KEY_LINE.match(line) or line[:1].isspace() or line.lstrip().startswith("- ")
        for line in lines
    )


def split_sections(text: str, path: str) -> RawSections:
    """Cut the Markdown body into H2 sections with canonical names (code blocks kept verbatim)."""
    lines = text.split("\n")
    tokens = _md().parse(text)
    for tok in tokens:  # authoring prompts (<!-- ... --> blocks) are not content
        if (
            tok.type == "html_block"
            and tok.map
            and tok.content.lstrip().startswith("<!--")
            and tok.content.rstrip().endswith("-->")
        ):
            for n in range(*tok.map):
                lines[n] = ""
    heads = [(i, t) for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"]
    problems: list[Problem] = []
    sections: list[Section] = []
    seen: dict[str, int] = {}
    body_start = next((t.map[1] for t in tokens if t.type == "front_matter" and t.map), None)
    unrecognised = (
        body_start is None
    )  # no front matter: its fields are no section and no stray text
    body_start = body_start or 0  # (the missing front matter is the error reported for them)
    while (
        unrecognised
        and heads
        and heads[0][1].markup == "-"
        and heads[0][1].map
        and _looks_like_fields(tokens[heads[0][0] + 1].content)
    ):
        fields_head = heads.pop(0)[1].map
        assert fields_head is not None  # checked in the condition above
        body_start = fields_head[1]
    first_head = heads[0][1].map[0] if heads and heads[0][1].map else len(lines)
    before = "\n".join(line for line in lines[body_start:first_head] if line.strip() != "---")
    if before.strip() and not (unrecognised and _looks_like_fields(before)):
        problems.append(Problem(path, body_start + 1, "text_before_sections", severity="warning"))
    for n, (i, tok) in enumerate(heads):
        assert tok.map is not None
        heading = tokens[i + 1].content.strip()
        lineno = tok.map[0] + 1
        following = heads[n + 1][1].map if n + 1 < len(heads) else None
        stop = following[0] if following is not None else len(lines)
        content = "\n".join(lines[tok.map[1] : stop]).strip("\n")
        name = canonical_section(heading)
        if name is None:
            problems.append(
                Problem(
                    path,
                    lineno,
                    "unknown_section",
                    {"heading": heading, "known": known_headings()},
                    severity="warning",
                )
            )
            name = "other"
        elif name in seen:
            problems.append(
                Problem(
                    path,
                    lineno,
                    "duplicate_section",
                    {"heading": heading, "section": name, "first_line": seen[name]},
                    name,
                )
            )
            continue
        seen.setdefault(name, lineno)
        sections.append(Section(name=name, heading=heading, text=content, line=lineno))
    return RawSections(sections, problems)


def _section_problems(
    sections: list[Section], status: Any, path: str, fm_end: int
) -> list[Problem]:
    problems = []
    by_name = {s.name: s for s in sections}
    required = ["symptoms"] + (["cause"] if status == "resolved" else [])
    for name in required:
        if name not in by_name:
            problems.append(
                Problem(
                    path, fm_end + 1, "required_section", {"section": section_label(name)}, name
                )
            )
    if "resolution" not in by_name and "workaround" not in by_name:
        problems.append(
            Problem(
                path,
                fm_end + 1,
                "resolution_or_workaround",
                {
                    "resolution": section_label("resolution"),
                    "workaround": section_label("workaround"),
                },
                "resolution",
            )
        )
    for name in ("symptoms", "cause", "resolution", "workaround"):
        section = by_name.get(name)
        if section is not None and not section.text.strip():
            problems.append(
                Problem(path, section.line, "empty_section", {"heading": section.heading}, name)
            )
    return problems


def check_case_text(
    text: str,
    path: str,
    id_regex: re.Pattern[str] = DEFAULT_ID_REGEX,
    content_hash: str = "",
    expected_id: str | None = None,
    customer_domains: tuple[str, ...] = (),
) -> tuple[Case | None, list[Problem]]:
    """Parse and validate one case; returns the case (None if any error) and all problems.

    ``expected_id`` (the file name's stem) must equal the ``id`` field when given.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    data, key_lines, fm_end, problems = _front_matter(text, path)
    raw = split_sections(text, path)
    problems += raw.problems
    problems += _section_problems(raw.sections, data.get("status"), path, fm_end)
    problems += [f.problem(path) for f in scan_case_text(text, customer_domains)]
    fm_broken = any(p.code in FRONT_MATTER_CODES for p in problems)
    fields, field_problems = validate_fields(
        data, key_lines, path, id_regex, raw.sections, expected_id
    )
    if not fm_broken:  # after a YAML error, "missing field" messages would only be noise
        problems += field_problems
    problems.sort(key=lambda p: p.line or 0)
    if any(p.is_error for p in problems) or fields is None:
        return None, problems
    digest = content_hash or hashlib.sha256(text.encode("utf-8")).hexdigest()
    kept = tuple(
        s for s in raw.sections if s.text.strip()
    )  # unfilled optional sections carry nothing
    case = Case(sections=kept, path=path, content_hash=digest, meta=data, **fields)
    return case, problems


def parse_case(
    text: str, path: str = "<string>", id_regex: re.Pattern[str] = DEFAULT_ID_REGEX
) -> Case:
    """Parse one case from its text; raises :class:`CaseFormatError` with every error found."""
    case, problems = check_case_text(text, path, id_regex)
    if case is None:
        raise CaseFormatError([p for p in problems if p.is_error])
    return case


def decode_case_bytes(data: bytes, path: str, max_bytes: int) -> tuple[str | None, list[Problem]]:
    """File-level checks: extension, size, binary content, UTF-8. Returns (text, problems)."""
    if not path.lower().endswith(MARKDOWN_SUFFIXES):
        return None, [Problem(path, None, "not_markdown")]
    if len(data) > max_bytes:
        return None, [
            Problem(path, None, "file_too_large", {"size": len(data), "limit": max_bytes})
        ]
    if b"\x00" in data:
        return None, [Problem(path, data[: data.index(b"\x00")].count(b"\n") + 1, "binary_content")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [
            Problem(path, line, "invalid_utf8", {"byte": data[exc.start], "offset": exc.start})
        ]


def read_case_file(
    path: Path,
    id_regex: re.Pattern[str] = DEFAULT_ID_REGEX,
    max_bytes: int = 262144,
    display_path: str | None = None,
    customer_domains: tuple[str, ...] = (),
    root: Path | None = None,
) -> tuple[Case | None, list[Problem]]:
    """Read, decode and check one case file; never raises for bad content. A FIFO, device or
    oversized file is refused before it is read, and a link out of ``root`` is not followed."""
    shown = display_path or str(path)
    data, problem = read_case_bytes(path, shown, max_bytes, root)
    if data is None:
        return None, [problem] if problem else []
    text, problems = decode_case_bytes(data, shown, max_bytes)
    if text is None:
        return None, problems
    return check_case_text(
        text,
        shown,
        id_regex,
        hashlib.sha256(data).hexdigest(),
        expected_id=Path(shown).stem,
        customer_domains=customer_domains,
    )
