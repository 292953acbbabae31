"""Error-code extraction: product codes (``SCH-13208``), Oracle (``ORA-01555``), SQLSTATE-like codes."""

from __future__ import annotations

import re

# PREFIX-NNNNN: 2-6 capital letters, a dash, 3-6 digits, not glued to other word characters.
ERROR_CODE = re.compile(r"(?<![\w-])([A-Z][A-Z0-9]{1,5}-\d{3,6})(?![\w-]|\.\d)")


# Prefixes that look like error codes but name algorithms or standards.
NOT_CODES = frozenset({"SHA", "AES", "RSA", "ISO", "UTF", "MD5", "DES", "ECDSA", "X509", "RFC", "JIS"})


def is_error_code(token: str) -> bool:
    """True when ``token`` as a whole is an error code."""
    match = ERROR_CODE.fullmatch(token)
    return bool(match) and token.split("-")[0] not in NOT_CODES


def extract_error_codes(text: str, exclude: re.Pattern[str] | None = None) -> list[str]:
    """Error codes in ``text`` in order of first appearance, without duplicates.

    ``exclude`` (e.g. the case-id pattern) masks spans that look like codes but are ids.
    """
    if exclude is not None:
        text = exclude.sub(" ", text)
    seen: dict[str, None] = {}
    for match in ERROR_CODE.finditer(text):
        if match.group(1).split("-")[0] not in NOT_CODES:
            seen.setdefault(match.group(1), None)
    return list(seen)
