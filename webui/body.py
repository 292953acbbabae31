"""JSON request bodies read safely: a dict, or a 400 that says what is wrong with the body.

``request.get_json(silent=True)`` turns only ``ValueError`` into ``None``: a body nested 100,000
levels deep raises ``RecursionError`` inside the JSON parser and becomes a 500. :func:`json_object`
measures the nesting with a flat scan before parsing, so the parser never recurses deeply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import current_app, request

from kb.errors import QueryError

MAX_DEPTH = 32  # no API body needs more: a draft is {"fields": {...}, "sections": {...}}
BODY = "body"
# A JSON string (skipped whole, so brackets inside it are not counted) or one bracket.
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)
_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyError(QueryError):
    """The request body is not a JSON object this API accepts (400, field ``body``).

    Unlike every other error class this one lives outside ``kb/errors.py``: it is about parsing an
    HTTP request body, which only the web layer has; as a :class:`~kb.errors.QueryError` it still
    goes through the one error handler with the one JSON shape.
    """

    def __init__(self, message: str):
        super().__init__(message, BODY)


class BodyTooLargeError(BodyError):
    """The request body is over the size limit (413, field ``body``)."""

    status = 413


def nesting_depth(data: bytes, stop: int | None = None) -> int:
    """How deeply arrays and objects nest in JSON text (brackets inside strings do not count).

    With ``stop`` the scan ends as soon as the depth passes it (the answer is then ``stop + 1``).
    """
    depth = deepest = 0
    for token in _TOKENS.finditer(data):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop is not None and deepest > stop:
                    break
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def parse_object(data: bytes, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """``data`` parsed as a JSON object; :class:`BodyError` saying why it is not one."""
    if not data.strip():
        raise BodyError("the body is empty: send a JSON object")
    if nesting_depth(data, stop=max_depth) > max_depth:
        raise BodyError(
            f"the body is nested too deeply (more than {max_depth} levels of arrays and objects)"
        )
    try:
        value = json.loads(data)
    except RecursionError:  # cannot happen after the depth check; never a 500 if it does
        raise BodyError(f"the body is nested too deeply (at most {max_depth} levels)") from None
    except (
        ValueError
    ) as exc:  # JSONDecodeError, UnicodeDecodeError, an integer with too many digits
        raise BodyError(f"the body is not valid JSON: {_reason(exc)}") from None
    if not isinstance(value, dict):
        raise BodyError(f"the body must be a JSON object, not {_json_type(value)}")
    where = _lone_surrogate(value, "")
    if where is not None:
        raise BodyError(
            f"{where or 'a key'}: a \\u escape that is half of a character pair (a lone "
            "surrogate) is no text: send the whole character"
        )
    return value


def _lone_surrogate(value: Any, path: str) -> str | None:
    """The path (``sections.symptoms``) of the first string or key holding a lone surrogate, which
    JSON's ``\\ud800`` escapes can carry but no text, store or page can; None when there is none."""
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(key):
                return path or "a key"
            found = _lone_surrogate(item, inner)
            if found is not None:
                return found
    if isinstance(value, list):
        for n, item in enumerate(value):
            found = _lone_surrogate(item, f"{path}[{n}]")
            if found is not None:
                return found
    return None


def json_object(max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The current request's body as a dict.

    Raises :class:`BodyError` (400) for an empty body, invalid JSON, anything but an object or a
    body nested deeper than ``max_depth``, and :class:`BodyTooLargeError` (413) for a body over
    ``max_bytes`` (default: the app's ``MAX_CONTENT_LENGTH``). The content type is not checked here.
    """
    limit = max_bytes if max_bytes is not None else current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise BodyTooLargeError(
            f"the body is too large ({request.content_length} bytes; at most {limit})"
        )
    data = request.get_data(cache=True)
    if limit is not None and len(data) > limit:
        raise BodyTooLargeError(f"the body is too large ({len(data)} bytes; at most {limit})")
    return parse_object(data, max_depth)


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8 text"
    return str(exc).split("\n")[0][:200]


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
