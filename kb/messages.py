"""The English words of every :class:`kb.errors.Problem`, one template per stable code.

A problem carries a ``code`` and its ``args``; :func:`render` fills the code's template with the
args (``str.format``). The CLI and the API show these English messages; the web UI says the
codes it knows in its own languages (``lint.<code>`` in ``webui.i18n``) and falls back to these.
A code is part of the product's interface: rename one only together with its translations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NO_FRONT_MATTER = "missing YAML front matter (the file must start with a '---' line)"
_FIRST_LINE = "the first line must be exactly '---'"

MESSAGES: dict[str, str] = {
    # the file itself (kb.reading, kb.parse.decode_case_bytes)
    "link_outside_root": "a symbolic link that leads out of the cases folder; skipped",
    "unreadable_file": "cannot read file: {reason}",
    "not_regular_file": "{kind}, not a regular file; skipped",
    "file_too_large": "file too large: {size} bytes (limit {limit}, setting max_case_bytes)",
    "file_grew_too_large": "file too large: over {limit} bytes (limit {limit}, setting max_case_bytes)",
    "not_markdown": "not a Markdown case file (expected a .md file)",
    "binary_content": "binary content (NUL byte) in a Markdown file",
    "invalid_utf8": "invalid UTF-8 (byte 0x{byte:02x} at offset {offset}); save the file as UTF-8",
    # front matter (kb.parse)
    "missing_front_matter": _NO_FRONT_MATTER,
    "front_matter_not_closed": "missing YAML front matter: no closing '---' line after the fields",
    "front_matter_first_line": _NO_FRONT_MATTER + ": line 1 is {first_line!r}; " + _FIRST_LINE,
    "front_matter_late": _NO_FRONT_MATTER + ": its '---' is on line {line}; " + _FIRST_LINE,
    "duplicate_field": "duplicate field '{field}' (first at line {first_line})",
    "invalid_yaml": "invalid YAML in front matter: {reason}",
    "front_matter_not_mapping": "front matter must be a mapping of field: value",
    # sections (kb.parse)
    "text_before_sections": "text before the first '## ' section is not part of any section",
    "unknown_section": "unknown section heading '{heading}' (known: {known})",
    "duplicate_section": "duplicate section '{heading}' ({section}, first at line {first_line})",
    "required_section": "missing required section '{section}'",
    "resolution_or_workaround": "missing required section '{resolution}' (or '{workaround}')",
    "empty_section": "section '{heading}' is empty",
    # fields (kb.fields)
    "unknown_field": "unknown field '{field}' (known: {known})",
    "required_field": "missing required field '{field}'",
    "unquoted_number": (
        '{field}: unquoted number (read as {value!r}); quote versions, e.g. "5.10", so 5.10 is not read as 5.1'
    ),
    "expected_text": "{field}: expected text, got {type}",
    "invalid_date": "{field}: invalid date '{value}' (expected YYYY-MM-DD)",
    "unknown_value": "unknown {field} '{value}' (expected one of: {choices})",
    "title_too_long": "title is longer than {limit} characters",
    "id_pattern_mismatch": "id '{id}' does not match the id pattern {pattern} (setting id_pattern)",
    "id_file_mismatch": "id '{id}' does not match the file name (expected the file to be named {id}.md)",
    "related_not_id": "related: '{id}' is not a case id ({pattern})",
    "related_self": "related: a case cannot be related to itself",
    "error_code_not_identifier": (
        "error_codes: '{code}' is not an identifier (e.g. SCH-13208, ORA-01555, 40P01, HTTP 503)"
    ),
    "resolved_before_created": "resolved date {resolved} is before the created date {created}",
    # sensitive data (kb.sensitive)
    "secret": "possible secret ({kind}): '{text}'; run 'kb redact' to replace it with {placeholder}",
    "personal_data": "possible personal data ({kind}): '{text}'; run 'kb redact' to replace it with {placeholder}",
    # the corpus (kb.corpus, kb.sync)
    "cases_dir_missing": "cases folder does not exist (setting cases_dir)",
    "not_markdown_ignored": "not a Markdown case file (expected .md); ignored",
    "no_such_path": "no such file or folder",
    "duplicate_id": "duplicate id '{id}' (also used by {other})",
    "related_missing": "related case '{id}' does not exist",
    "hidden_mention": "names '{id}' ({visibility}), which readers of this {case_visibility} case cannot open",
    # a problem stored before problems had codes: its message as it was written
    "legacy": "{message}",
}

# Codes that mean the front matter could not be read at all (its field checks would be noise).
FRONT_MATTER_CODES = frozenset(
    {
        "missing_front_matter",
        "front_matter_not_closed",
        "front_matter_first_line",
        "front_matter_late",
        "invalid_yaml",
        "front_matter_not_mapping",
    }
)


def render(code: str, args: Mapping[str, Any]) -> str:
    """The English message of ``code`` with ``args`` filled in; raises KeyError for an unknown code."""
    return MESSAGES[code].format(**args)
