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
from collections import Counter
from typing import Any

# Order matters: the most specific masks run first.
MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "<ts>",
        re.compile(
            r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T\s]+\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}|UTC|JST))?",
            re.IGNORECASE,
        ),
    ),
    ("<ts>", re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b")),
    (
        "<ts>",
        re.compile(
            r"\b(?:mon|tue|wed|thu|fri|sat|sun)?,?\s*\d{1,2}\s+(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{4}\b",
            re.IGNORECASE,
        ),
    ),
    ("<email>", re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("<url>", re.compile(r"\bhttps?://[^\s\"'<>]+", re.IGNORECASE)),
    (
        "<uuid>",
        re.compile(
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.IGNORECASE
        ),
    ),
    ("<ip>", re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b")),
    ("<ip>", re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", re.IGNORECASE)),
    (
        "<path>",
        re.compile(
            r"(?:/tmp|/var/tmp|/var/folders|[A-Za-z]:\\(?:Users|Windows)\\[^\s]*?\\Temp)[/\\][^\s\"'<>]*",
            re.IGNORECASE,
        ),
    ),
    ("<hex>", re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE)),
    ("<hex>", re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b", re.IGNORECASE)),
    (
        "<id>",
        re.compile(
            r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9]+(?:[-_][a-z0-9]+)*[-_](?=[a-z]*\d)[a-z0-9]{4,}\b",
            re.IGNORECASE,
        ),
    ),
    ("<num>", re.compile(r"\d+(?:[.,]\d+)*")),
)
_WORD = re.compile(r"<[a-z]+>|[^\W_]+", re.UNICODE)
MIN_TEMPLATE_WORDS = 3
SHINGLE = 3


MAX_LINE = 2_000  # characters of a line that are read as log: none is longer, and a pasted
# line of 100,000 characters must not cost the patterns' backtracking on all of them


def mask_line(line: str) -> str:
    """The template of one log line: variable parts masked, case folded, spaces collapsed."""
    text = unicodedata.normalize("NFKC", line[:MAX_LINE]).strip()
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
            tokens.append(_digest("s", " ".join(found[i : i + SHINGLE])))
    return tokens


def dense_view(text: str) -> str:
    """What a sentence encoder is given of a query that holds log lines.

    A pasted log: each line with its variable parts (timestamps, ids, hex, addresses, numbers)
    removed. They mean nothing to the model and would fill its token window (a 3-line log: 228
    word pieces, 125 without them). A description with a few log lines pasted in (``mixed``): the
    description's lines alone, since the log lines are the signature and lexical legs' evidence and
    the person's own words are what the model reads best (a 1,000-case benchmark's mixed pastes
    encoded up to 128 tokens each). Text without log lines is returned as it is."""
    lines = [line for line in text.splitlines() if line.strip()]
    flags = _log_flags(lines)  # as text_kind reads them, which chose the query's weights
    if not any(flags):
        return text
    mixed = _kind_of(flags, lines) == "mixed"
    kept = []
    for line, is_log in zip(lines, flags):
        if is_log and mixed:
            continue
        line = unicodedata.normalize("NFKC", line)
        if is_log:
            for _, pattern in MASKS:
                line = pattern.sub(" ", line)
        line = re.sub(r"\s+", " ", line).strip()
        if line:
            kept.append(line)
    return "\n".join(kept)


_LEVEL = re.compile(
    r"(?<![\w-])(?:ERROR|ERR|WARN|WARNING|INFO|DEBUG|TRACE|FATAL|SEVERE|CRITICAL|CRIT|NOTICE|EMERG|ALERT)(?![\w-])"
    r"|\[(?:error|warn|warning|notice|info|debug|crit|alert|emerg)\]|\b(?:level|lvl|severity)=\w+",
    re.IGNORECASE,
)
_LEVEL_UPPER = re.compile(
    r"(?<![\w-])(?:ERROR|ERR|WARN|WARNING|INFO|DEBUG|TRACE|FATAL|SEVERE|CRITICAL|CRIT|NOTICE|EMERG|ALERT)(?![\w-])"
)
_TS_START = re.compile(
    r"^\W{0,2}(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[T\s]+\d{1,2}:\d{2}(?P<sec>:\d{2})?"  # 2026-03-02 10:15:07
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\s+\d{1,2}\s+\d{1,2}:\d{2}(?P<sec2>:\d{2})"  # syslog
    r"|\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"  # 10:15:07.123
    r"|\d{9,13}(?:\.\d+)?\s"  # epoch seconds or milliseconds
    r"|\[\s*\d+\.\d{3,}\])",
    re.IGNORECASE,
)  # kernel: [ 1234.567890]
_FRAME = re.compile(
    r"^\s*(?:at\s+[\w$.<>/]+\(|File \"[^\"]+\", line \d+|Caused by:|Traceback \(most recent call last\)"
    r"|\.\.\. \d+ (?:more|common frames omitted)|[\w$]+(?:\.[\w$]+)+(?:Exception|Error)\b(?::|$)"
    r"|[A-Z]\w*(?:Exception|Error): )"
)
_JSON_LOG = re.compile(
    r'^\s*\{.*"(?:level|severity|lvl|msg|message|ts|time|timestamp|@timestamp)"\s*:'
)
# from a token's start only, so that a long token costs one pass, not one per position in it
_PROGRAM_PID = re.compile(r"(?<![\w.-])[.-]*\w[\w.-]*\[\d+\]:")
_KEY_VALUE = re.compile(r"(?<![\w.])[A-Za-z_][\w.]*=(?:\"[^\"]*\"|[^\s,;]+)")
_BRACKET = re.compile(r"\[[^\]\s]{1,60}\]")
_SECONDS = re.compile(
    r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?![\d:])|\[\d{1,2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}"
)  # or an access log's [03/Aug/2022:14:30:22
_CODE_MESSAGE = re.compile(
    r"^(?:[A-Z][A-Z0-9]{1,9}-\d{3,6}|Msg \d+, Level \d+)[:,]"
)  # ORA-19809: ..., SQL Server's Msg 3201, Level 16
_FIELD_LINE = re.compile(
    r"^(?:[A-Z][\w ()/-]{1,30}:\s{2,}\S|[A-Z][a-z]+(?:-[A-Z][A-Za-z]+)+:\s)"
)  # aligned "Event ID:   4", headers
_MARKUP = re.compile(r"^\s*<[A-Za-z?][^>]*>.*</?[A-Za-z]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
_LATIN_WORDS = re.compile(r"[A-Za-z]{2,}")


def is_log_line(line: str) -> bool:
    """Whether one line is machine log output: a stack frame or exception line, a JSON log record,
    or a line that starts with a timestamp (with seconds) or carries a level together with a
    thread, a program[pid], key=value pairs or a timestamp. Prose that merely mentions a time, a
    phone number or "ERROR" is not."""
    text = unicodedata.normalize("NFKC", line[:MAX_LINE]).strip()
    if not text:
        return False
    if (
        _FRAME.search(text)
        or _JSON_LOG.search(text)
        or _CODE_MESSAGE.search(text)
        or _FIELD_LINE.search(text)
        or _MARKUP.search(text)
    ):
        return True
    if _SECONDS.search(text) and len(_CJK.findall(text)) < 8:  # people rarely write the seconds
        return True
    pairs = len(_KEY_VALUE.findall(text))
    start = _TS_START.search(text)
    level = _LEVEL.search(text)
    context = bool(_BRACKET.search(text) or _PROGRAM_PID.search(text) or pairs >= 1)
    if start and (start.group("sec") or start.group("sec2") or level or context):
        return True
    if level and (context or MASKS[0][1].search(text)) and (_LEVEL_UPPER.search(text) or pairs):
        return True
    return pairs >= 3


def is_prose_line(line: str) -> bool:
    """A line a person wrote: not log output and with some words (4 Latin words or 8 CJK characters)."""
    return not is_log_line(line) and (
        len(_LATIN_WORDS.findall(line)) >= 4 or len(_CJK.findall(line)) >= 8
    )


def text_kind(text: str) -> str:
    """``log`` (log lines, perhaps after a line or two saying what they are: at least as many log
    lines as lines a person wrote), ``mixed`` (a description with fewer log lines pasted in) or
    ``prose`` (no log line: e-mails with phone numbers and times included)."""
    lines = [line for line in text.splitlines() if line.strip()]
    return _kind_of(_log_flags(lines), lines)


def _log_flags(lines: list[str]) -> list[bool]:
    """Which of the (non-blank) lines are log lines: an indented line right after a log line
    continues it (a wrapped message, a detail line), and lines that repeat one template with other
    numbers are a log too ("job 8812 took 15 ms")."""
    repeated = _repeated_templates(lines)
    flags = []
    previous_log = False
    for line in lines:
        is_log = is_log_line(line) or (previous_log and line[:1] in (" ", "\t")) or line in repeated
        flags.append(is_log)
        previous_log = is_log
    return flags


def _kind_of(flags: list[bool], lines: list[str]) -> str:
    log_lines = sum(flags)
    if not log_lines:
        return "prose"
    prose = sum(not f and is_prose_line(line) for f, line in zip(flags, lines))
    return "log" if log_lines >= prose else "mixed"


def _repeated_templates(lines: list[str]) -> set[str]:
    """Lines whose masked template (with a variable part) another line shares."""
    templates_of = {line: mask_line(line) for line in lines}
    counts = Counter(t for line, t in templates_of.items() if "<" in t and "<" not in line)
    return {line for line, t in templates_of.items() if counts[t] >= 2}


def looks_like_log(text: str) -> bool:
    """True when the text holds log lines (alone or pasted into a description): the signature leg
    runs for it."""
    return text_kind(text) != "prose"


FENCE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def code_blocks(markdown: str) -> list[str]:
    """Contents of fenced code blocks in a Markdown text."""
    return [match.group(2) for match in FENCE.finditer(markdown)]


def log_text(case: Any) -> str:
    """The text a case's log signatures are taken from: every fenced block, else its logs section
    (``case`` is a :class:`kb.case.Case`)."""
    blocks = code_blocks(case.body_text)
    return "\n".join(blocks) if blocks else case.section_text("logs")
