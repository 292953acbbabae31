"""Front-matter field validation: types, enums, dates, ids; every problem with its line."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from kb.case import LANGUAGES, ORIGINS, REVIEW_STATES, SEVERITIES, STATUSES, VISIBILITIES, Section
from kb.codes import extract_error_codes
from kb.errors import Problem
from kb.language import detect_language
from kb.roles import effective_visibility

REQUIRED_FIELDS = ("id", "title", "status", "product", "component", "visibility", "created")
LIST_FIELDS = ("versions", "tags", "error_codes", "authors", "related")
DATE_FIELDS = ("created", "resolved", "review_by")
STRING_FIELDS = ("title", "product", "component", "fixed_in")
ENUM_FIELDS: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "visibility": VISIBILITIES,
    "origin": ORIGINS,
    "severity": SEVERITIES,
    "lang": LANGUAGES,
    "review": REVIEW_STATES,
}
KNOWN_FIELDS = frozenset(
    ("id", "lang")
    + REQUIRED_FIELDS
    + LIST_FIELDS
    + DATE_FIELDS
    + STRING_FIELDS
    + tuple(ENUM_FIELDS)
)
MAX_TITLE = 200
_IDENTIFIER = re.compile(r"[\w.:#/$-]+(?: [\w.:#/$-]+)?")


class _Collector:
    """Accumulates problems for one file, each placed at its field's line."""

    def __init__(self, path: str, key_lines: dict[str, int]):
        self.path, self.key_lines = path, key_lines
        self.problems: list[Problem] = []

    def error(self, field: str, code: str, /, **args: Any) -> None:
        self.problems.append(Problem(self.path, self.key_lines.get(field, 1), code, args, field))


def _as_string(value: Any, field: str, out: _Collector) -> str | None:
    if isinstance(value, float):
        out.error(field, "unquoted_number", field=field, value=value)
        return None
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return str(value).strip()
    out.error(field, "expected_text", field=field, type=type(value).__name__)
    return None


def _as_list(value: Any, field: str, out: _Collector) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    result = []
    for item in items:
        text = _as_string(item, field, out)
        if text:
            result.append(text)
    return tuple(dict.fromkeys(result))


def _as_date(value: Any, field: str, out: _Collector) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        out.error(field, "invalid_date", field=field, value=str(value))
        return None


def _check_enum(data: dict[str, Any], field: str, out: _Collector) -> None:
    value = data.get(field)
    if value is not None and value not in ENUM_FIELDS[field]:
        out.error(
            field,
            "unknown_value",
            field=field,
            value=str(value),
            choices=", ".join(ENUM_FIELDS[field]),
        )


def _check_ids(
    fields: dict[str, Any], id_regex: re.Pattern[str], expected_id: str | None, out: _Collector
) -> None:
    case_id = fields.get("id")
    if case_id and not id_regex.fullmatch(case_id):
        out.error("id", "id_pattern_mismatch", id=case_id, pattern=id_regex.pattern)
    elif case_id and expected_id and case_id != expected_id:
        out.error("id", "id_file_mismatch", id=case_id)
    for other in fields.get("related", ()):
        if not id_regex.fullmatch(other):
            out.error("related", "related_not_id", id=other, pattern=id_regex.pattern)
        elif other == case_id:
            out.error("related", "related_self")
    for code in fields.get("error_codes", ()):
        if not _IDENTIFIER.fullmatch(code):
            out.error("error_codes", "error_code_not_identifier", code=code)


def _check_dates(fields: dict[str, Any], out: _Collector) -> None:
    created, resolved = fields.get("created"), fields.get("resolved")
    if created and resolved and resolved < created:
        out.error(
            "resolved", "resolved_before_created", resolved=str(resolved), created=str(created)
        )


_CONVERTERS: list[tuple[tuple[str, ...], Callable[[Any, str, _Collector], Any]]] = [
    (
        (
            "id",
            "title",
            "product",
            "component",
            "fixed_in",
            "status",
            "visibility",
            "origin",
            "severity",
            "lang",
            "review",
        ),
        _as_string,
    ),
    (LIST_FIELDS, _as_list),
    (DATE_FIELDS, _as_date),
]


def validate_fields(
    data: dict[str, Any],
    key_lines: dict[str, int],
    path: str,
    id_regex: re.Pattern[str],
    sections: list[Section],
    expected_id: str | None = None,
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Check the front matter and return the keyword arguments for :class:`Case` (or None)."""
    out = _Collector(path, key_lines)
    for key in data:
        if key not in KNOWN_FIELDS:
            out.error(
                str(key), "unknown_field", field=str(key), known=", ".join(sorted(KNOWN_FIELDS))
            )
    for field in REQUIRED_FIELDS:
        if data.get(field) in (None, "", []):
            out.error(field, "required_field", field=field)
    fields: dict[str, Any] = {}
    for names, convert in _CONVERTERS:
        for name in names:
            if name in data and data[name] is not None:
                fields[name] = convert(data[name], name, out)
    for name in ENUM_FIELDS:
        _check_enum(fields, name, out)
    if fields.get("title") and len(fields["title"]) > MAX_TITLE:
        out.error("title", "title_too_long", limit=MAX_TITLE)
    _check_ids(fields, id_regex, expected_id, out)
    _check_dates(fields, out)
    if out.problems:
        return None, out.problems
    body = "\n".join(s.text for s in sections)
    fields["error_codes"] = tuple(
        dict.fromkeys(fields.get("error_codes", ()) + tuple(extract_error_codes(body, id_regex)))
    )
    if not fields.get("lang"):
        symptoms = next((s.text for s in sections if s.name == "symptoms"), "")
        fields["lang"] = detect_language(f"{fields['title']}\n{symptoms}")
    # the level the case is read at everywhere (store, index, pages): a draft's is engineering at least
    fields["visibility"] = effective_visibility(fields["visibility"], fields.get("review"))
    return {k: v for k, v in fields.items() if v is not None}, []
