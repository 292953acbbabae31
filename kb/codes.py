"""Error codes and identifiers of many shapes: recognised in text, canonicalised for exact matching.

Products name their failures in many ways. Each shape is a small named pattern in
:data:`CODE_SHAPES`; :func:`extract_error_codes` finds them in prose and logs (they are added to a
case's ``error_codes``), and :func:`query_code_candidates` lists every form a query could be
naming, so that *any* value listed in a case's ``error_codes`` is matched whole, whatever its
shape (:func:`canonical_code` makes both sides comparable).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable

# Prefixes that look like error codes but name algorithms, encodings or standards.
NOT_CODES = frozenset(
    {
        "SHA",
        "AES",
        "RSA",
        "ISO",
        "UTF",
        "MD5",
        "DES",
        "ECDSA",
        "X509",
        "RFC",
        "JIS",
        "CP",
        "TLS",
        "SSL",
        "IPV",
        "UTC",
        "GMT",
        "JST",
        "PKCS",
        "ECMA",
        "IEEE",
        "ANSI",
        "RHEL",
        "WIN",
        "JDK",
        "JRE",
        "ES",
        "FY",
        "CY",
        "COVID",
        "RAID",
        "PR",
        "MS",
        "WCAG",
        "DDR",
        "USB",
        "PCIE",
        "CPU",
    }
)

# POSIX errno names (errno(3)): short capitals that are not otherwise recognisable as codes.
ERRNO_NAMES = frozenset(
    """EACCES EPERM ENOENT ECONNREFUSED ECONNRESET ECONNABORTED ETIMEDOUT ENOSPC EMFILE ENFILE
EADDRINUSE EADDRNOTAVAIL EHOSTUNREACH ENETUNREACH ENETDOWN EPIPE EAGAIN EWOULDBLOCK EINVAL EIO ENOMEM EEXIST EBUSY
EDQUOT EROFS ENOTCONN ENOTDIR EISDIR ENOTEMPTY ESRCH EINTR EBADF EFAULT ELOOP ENAMETOOLONG EOVERFLOW EPROTO ESTALE
ENOTSUP EOPNOTSUPP EMSGSIZE ENOBUFS ECANCELED EDEADLK ENOLCK ETXTBSY EXDEV""".split()
)

# Words that make an upper-case snake constant an error name (QUOTA_EXCEEDED, PERMISSION_DENIED).
_FAILURE_WORDS = (
    r"(?:ERROR|ERR|FAIL|FAILED|FAILURE|DENIED|INVALID|EXCEEDED|TIMEOUT|TIMEDOUT|NOT_FOUND|NOTFOUND|REFUSED|"
    r"UNAVAILABLE|FORBIDDEN|UNAUTHORIZED|CONFLICT|ABORTED|REJECTED|EXPIRED|MISMATCH|CORRUPT|UNREACHABLE|BUSY|LOCKED)"
)

MAX_CODE_CHARS = 64  # the store's column; a longer run is not a code
_EDGE_L = r"(?<![\w.-])"
_EDGE_R = r"(?![\w-]|\.\w)"

CODE_SHAPES: dict[str, re.Pattern[str]] = {
    # SCH-13208, ORA-01555, XYZ-AUTH-4012, ACME-SSO-0042, CVE-2024-3094, NAS_RAID_0031
    "prefixed": re.compile(
        _EDGE_L
        + r"([A-Z]{2}[A-Z0-9]{0,10}(?:[-_][A-Z][A-Z0-9]{0,11})*[-_]\d{3,8}(?:[-_]\d{1,8})*[A-Z]?)"
        + _EDGE_R
    ),
    # AADSTS50011, KB5021233, PGW50231
    "glued": re.compile(_EDGE_L + r"([A-Z]{2,10}\d{4,10})" + _EDGE_R),
    # 0x80070005, 0xC0000022 (HRESULT / NTSTATUS: eight hex digits; longer runs are addresses)
    "hex": re.compile(r"(?<![\w.])(0[xX][0-9A-Fa-f]{8})(?![\w.])"),
    # E_ACCESSDENIED, ERR_CONNECTION_RESET, ERROR_FILE_NOT_FOUND, STATUS_ACCESS_DENIED, QUOTA_EXCEEDED
    "constant": re.compile(
        _EDGE_L + r"((?:E|ERR|ERROR|STATUS|WSAE?)_[A-Z0-9]+(?:_[A-Z0-9]+)*|"
        r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_" + _FAILURE_WORDS + r"(?:_[A-Z0-9]+)*)" + _EDGE_R
    ),
    # sync.e.1043, auth.err.204: dotted names ending in a number
    "dotted": re.compile(_EDGE_L + r"([a-z][a-z0-9]*(?:\.[a-z][a-z0-9]*)+\.\d{3,6})" + _EDGE_R),
    # ECONNREFUSED, ETIMEDOUT
    "errno-name": re.compile(r"(?<![\w.-])(E[A-Z]{2,13})(?![\w-])"),
    # errno 110, errno=28
    "errno": re.compile(r"\b(errno)[\s:=]*(\d{1,4})\b", re.IGNORECASE),
    # SQLSTATE 40P01, SQLSTATE[23505]
    "sqlstate": re.compile(r"\b(SQLSTATE)[\s:=\[]*([0-9A-Z]{5})\b", re.IGNORECASE),
    # HTTP 503, HTTP/1.1 503, status 429
    "http": re.compile(r"\b(HTTP)(?:/\d(?:\.\d)?)?[\s:]*([1-5]\d\d)\b", re.IGNORECASE),
}
# Kept for callers that want the classic PREFIX-NNNNN shape only.
ERROR_CODE = CODE_SHAPES["prefixed"]


def _accept(shape: str, code: str) -> bool:
    if shape == "errno-name":
        return code in ERRNO_NAMES
    if shape in ("prefixed", "glued"):
        head = re.split(r"[-_\d]", code, maxsplit=1)[0]
        return head not in NOT_CODES and not code.startswith(("ISO", "UTF", "SHA"))
    return True


def _display(shape: str, match: re.Match[str]) -> str:
    if shape in ("errno", "sqlstate", "http"):
        word = {"errno": "errno", "sqlstate": "SQLSTATE", "http": "HTTP"}[shape]
        return f"{word} {match.group(2).upper() if shape == 'sqlstate' else match.group(2)}"
    return match.group(1)


# Shapes too generic to add to a case by themselves (nearly every web case says HTTP 500): they
# count when a case lists them in ``error_codes`` and when a query names them.
GENERIC_SHAPES = frozenset({"http", "errno"})


def find_codes(text: str, generic: bool = True) -> list[tuple[int, int, str]]:
    """Every code in ``text`` as (start, end, code as written), by position; overlapping finds keep
    the longest. ``generic=False`` leaves out :data:`GENERIC_SHAPES`."""
    text = unicodedata.normalize("NFKC", text)
    found = []
    for shape, pattern in CODE_SHAPES.items():
        if not generic and shape in GENERIC_SHAPES:
            continue
        for match in pattern.finditer(text):
            code = _display(shape, match)
            if len(code) <= MAX_CODE_CHARS and _accept(shape, code):
                found.append((match.start(), match.end(), code))
    found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
    kept: list[tuple[int, int, str]] = []
    for start, end, code in found:
        if kept and start < kept[-1][1]:
            continue  # inside a longer code already kept (CVE-2024-3094 holds no second code)
        kept.append((start, end, code))
    return kept


def is_error_code(token: str) -> bool:
    """True when ``token`` as a whole is an error code of a known shape."""
    found = find_codes(token.strip())
    return (
        len(found) == 1
        and found[0][0] == 0
        and found[0][1] == len(unicodedata.normalize("NFKC", token.strip()))
    )


def extract_error_codes(text: str, exclude: re.Pattern[str] | None = None) -> list[str]:
    """Error codes in ``text`` in order of first appearance, without duplicates (generic HTTP
    statuses and errno numbers left out).

    ``exclude`` (e.g. the case-id pattern) masks spans that look like codes but are ids.
    """
    if exclude is not None:
        text = exclude.sub(" ", text)
    return list(dict.fromkeys(code for _, _, code in find_codes(text, generic=False)))


def canonical_code(code: str) -> str:
    """The form codes are compared in: NFKC, case-folded, white space as one ``-``
    (``SQLSTATE 40P01`` -> ``sqlstate-40p01``, ``ＳＣＨ－１３２０８`` -> ``sch-13208``)."""
    return re.sub(r"\s+", "-", unicodedata.normalize("NFKC", code).strip()).casefold()


def code_variants(code: str) -> list[str]:
    """The canonical forms one listed code answers to: itself, and for a packaged class name
    (``java.net.SocketTimeoutException``) its bare class name too."""
    canon = canonical_code(code)
    variants = [canon]
    head, dot, last = code.strip().rpartition(".")
    if dot and head and _CLASS_NAME.fullmatch(last):
        variants.append(canonical_code(last))
    return variants


def code_index(listed: Iterable[tuple[str, Iterable[str]]]) -> dict[str, list[tuple[str, str]]]:
    """Every form a listed code answers to -> (case id, the code in canonical form), from
    (case id, its error codes) pairs: what exact matching looks query candidates up in."""
    index: dict[str, list[tuple[str, str]]] = {}
    for case_id, codes in listed:
        # one string per case and per code, not one per listing (100,000 cases: 70 MB less)
        owner = sys.intern(case_id)
        for code in codes:
            entry = (owner, sys.intern(canonical_code(code)))
            for variant in code_variants(code):
                index.setdefault(sys.intern(variant), []).append(entry)
    return index


# A class name worth matching alone: an exception or error type, or CamelCase of two words or more
# (``Timeout`` alone is a word: a listed ``requests.exceptions.Timeout`` is not named by "timeout").
_CLASS_NAME = re.compile(
    r"[A-Z][A-Za-z0-9]*(?:Exception|Error|Fault|Failure|Warning)|[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+"
)


def is_code_like(token: str) -> bool:
    """Whether a query token (as typed) could name a code rather than be a word: it has a digit, a
    separator inside (``-``, ``_``, ``.``, ``:``, ``/``), capitals after its first letter
    (``ETIMEDOUT``, ``BadTooManySessions``), or is a code of a known shape."""
    token = token.strip()
    return (
        any(c.isdigit() for c in token)
        or any(c in "-_.:/" for c in token.strip("-_.:/"))
        or any(c.isupper() for c in token[1:])
        or is_error_code(token)
    )


_QUERY_TOKEN = re.compile(
    r"[^\s\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff0f\uff1a-\uff20「」『』【】、。・（）()\[\]{}<>\"'`,;=|!?]+"
)
_TRIM = ".:/\\#-_*~^+"


def query_code_candidates(text: str, limit: int = 4096, strict: bool = False) -> list[str]:
    """Every canonical form a query could name a code by: the codes recognised in it and the bare
    class names of packaged ones, its tokens (split at spaces, brackets, quotes, ``=`` and Japanese
    script) and adjacent token pairs (``HTTP 503``, ``errno 110``). ``strict``: only tokens that
    look like codes (:func:`is_code_like`) and pairs with a digit, not plain words. Capped for
    pasted logs, recognised codes first."""
    text = unicodedata.normalize("NFKC", text)
    found: dict[str, None] = {}
    for _, _, code in find_codes(text):
        for variant in code_variants(code):
            found.setdefault(variant, None)
    tokens = [t for t in (t.strip(_TRIM) for t in _QUERY_TOKEN.findall(text)) if t]
    for token in tokens:
        if strict and not is_code_like(token):
            continue
        for variant in code_variants(token):
            found.setdefault(variant, None)
        if ":" in token:  # code:PGW50231, at Foo.java:12
            for piece in filter(None, (p.strip(_TRIM) for p in token.split(":"))):
                if not strict or is_code_like(piece):
                    found.setdefault(canonical_code(piece), None)
    for first, second in zip(tokens, tokens[1:]):
        if not strict or any(c.isdigit() for c in first + second):
            found.setdefault(canonical_code(f"{first} {second}"), None)
    return list(found)[:limit]
