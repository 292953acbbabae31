"""Log signatures: a log line reduced to its template by masking the variable parts (pure).

``2026-03-02 10:15:07,123 ERROR [exec-7] req=8f3a... user=tanaka took 1532 ms`` and the same
line from another server with other numbers both become
``<ts> error [exec-<num>] req=<hex> user=tanaka took <num> ms``. Templates are hashed into
``line`` tokens (exact template) and word-trigram ``shingle`` tokens (partial overlap), so a
pasted excerpt matches the case whose log has the same signature.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Order matters: the most specific masks run first.
MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("<ts>", re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T\s]+\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}|UTC|JST))?", re.IGNORECASE)),
    ("<ts>", re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b")),
    ("<ts>", re.compile(r"\b(?:mon|tue|wed|thu|fri|sat|sun)?,?\s*\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{4}\b", re.IGNORECASE)),
    ("<email>", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("<url>", re.compile(r"\bhttps?://[^\s\"'<>]+", re.IGNORECASE)),
    ("<uuid>", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE)),
    ("<ip>", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b")),
    ("<ip>", re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.IGNORECASE)),
    ("<path>", re.compile(r"(?:/tmp|/var/tmp|/var/folders|[A-Za-z]:\\(?:Users|Windows)\\[^\s]*?\\Temp)[/\\][^\s\"'<>]*", re.IGNORECASE)),
    ("<hex>", re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE)),
    ("<hex>", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", re.IGNORECASE)),
    ("<id>", re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:[-_][a-z0-9]+)*[-_](?=[a-z]*\d)[a-z0-9]{4,}\b", re.IGNORECASE)),
    ("<num>", re.compile(r"\d+(?:[.,]\d+)*")),
)
_WORD = re.compile(r"<[a-z]+>|[^\W_]+", re.UNICODE)
_LOG_HINT = re.compile(
    r"\b(?:ERROR|WARN|WARNING|INFO|DEBUG|TRACE|FATAL|SEVERE|CRITICAL)\b"  # levels as loggers print them
    r"|\b(?:[A-Z]\w*(?:Exception|Error)|Caused by|Traceback \(most recent call last\))\b"
    r"|^\s*at\s+[\w$.<>]+\(|\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}|\b\d{2}:\d{2}:\d{2}\b",
    re.MULTILINE,
)
MIN_TEMPLATE_WORDS = 3
SHINGLE = 3


def mask_line(line: str) -> str:
    """The template of one log line: variable parts masked, case folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", line).strip()
    for placeholder, pattern in MASKS:
        text = pattern.sub(placeholder, text)
    return re.sub(r"\s+", " ", text).casefold()


def templates(text: str) -> list[str]:
    """Templates of every line with enough words to be a signature."""
    result = []
    for line in text.splitlines():
        template = mask_line(line)
        if len(_WORD.findall(template)) >= MIN_TEMPLATE_WORDS:
            result.append(template)
    return result


def _digest(prefix: str, text: str) -> str:
    return prefix + hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def template_words(template: str) -> list[str]:
    return _WORD.findall(template)


def signature_tokens(text: str) -> list[str]:
    """``l…`` tokens (one per whole template) and ``s…`` tokens (word trigrams) of a log text."""
    tokens: list[str] = []
    for template in templates(text):
        tokens.append(_digest("l", template))
        found = template_words(template)
        for i in range(max(1, len(found) - SHINGLE + 1)):
            tokens.append(_digest("s", " ".join(found[i:i + SHINGLE])))
    return tokens


def dense_view(text: str) -> str:
    """What a sentence encoder is given of a pasted log: each line with its variable parts
    (timestamps, ids, hex, addresses, numbers) removed. They mean nothing to the model and
    would fill its token window (a 3-line log: 228 word pieces, 125 without them); text that
    does not look like a log is returned as it is."""
    if not looks_like_log(text):
        return text
    lines = []
    for line in unicodedata.normalize("NFKC", text).splitlines():
        for _, pattern in MASKS:
            line = pattern.sub(" ", line)
        line = re.sub(r"\s+", " ", line).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def looks_like_log(text: str) -> bool:
    """True for pasted log excerpts: a timestamp, an upper-case level, an exception or a stack frame,
    or several lines most of which carry variable parts (ids, numbers, addresses)."""
    if _LOG_HINT.search(text):
        return True
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    variable = sum(1 for line in lines if "<" in mask_line(line) and "<" not in line)
    return variable * 2 >= len(lines)


FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """Contents of fenced code blocks in a Markdown text."""
    return [match.group(2) for match in FENCE.finditer(markdown)]
