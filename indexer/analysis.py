"""Text analysis for indexing and querying (pure functions, no engine imports).

Every field's tokens come from a small named function in :data:`ANALYZERS`:

* ``words``   - language-aware words: SudachiPy (``normalized_form``, split mode C by default)
               for Japanese runs, stop-worded Snowball stems for the rest;
* ``bigrams`` - overlapping CJK character bigrams, for in-house terms the dictionary misses;
* ``idents``  - identifiers kept whole: error codes, exception classes, config keys, file
               names, HTTP statuses, hyphenated/camel/snake identifiers;
* ``plain``   - lowercase alphanumeric runs with no stemming: the engine default we compare to.

Text is NFKC-normalised and case-folded first, at index and query time alike.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Callable

import snowballstemmer

from kb.codes import canonical_code, find_codes, query_code_candidates

CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3005\u3006\u30fc]+")
_LATIN_WORD = re.compile(r"[^\W_]+(?:['’][a-z]+)?")
_SPLIT_JA_POS = frozenset({"助詞", "助動詞", "補助記号", "空白", "記号"})

ENGLISH_STOP_WORDS = frozenset(
    """
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not of off on once only or other our ours ourselves out over own same she should so
some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves also get got us via
""".split()
)
# "not"/"no"/"cannot" carry meaning in symptoms ("cannot log in"), so they stay searchable.
ENGLISH_STOP_WORDS = ENGLISH_STOP_WORDS - {"not", "no", "cannot"}


def normalize(text: str) -> str:
    """NFKC (full-width -> half-width, ① -> 1) and case folding."""
    return unicodedata.normalize("NFKC", text).casefold()


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalise character by character; ``offsets[i]`` is the original index of output char ``i``."""
    if text.isascii():  # NFKC leaves ASCII alone and casefold is lower(): one pass, offsets 1:1
        return text.lower(), list(range(len(text) + 1))
    out: list[str] = []
    offsets: list[int] = []
    for match in _SCRIPT_RUN.finditer(text):
        run, start = match.group(), match.start()
        if run.isascii():
            out.append(run.lower())
            offsets.extend(range(start, start + len(run)))
        elif unicodedata.is_normalized("NFKC", run) and run.casefold() == run:
            out.append(run)  # already normal (most Japanese text): every character maps to itself
            offsets.extend(range(start, start + len(run)))
        else:
            for index, char in enumerate(run, start):
                norm = normalize(char)
                out.append(norm)
                offsets.extend([index] * len(norm))
    offsets.append(len(text))
    return "".join(out), offsets


_SCRIPT_RUN = re.compile(r"[\x00-\x7f]+|[^\x00-\x7f]+")


_LOCAL = threading.local()


@functools.lru_cache(maxsize=1)
def _dictionary():
    from sudachipy import Dictionary

    return Dictionary(dict="core")


def _sudachi():
    """This thread's tokenizer: a Sudachi tokenizer must not be used by two threads at once (web
    requests and the dense leg's thread analyse text concurrently); the dictionary is shared."""
    tokenizer = getattr(_LOCAL, "tokenizer", None)
    if tokenizer is None:
        tokenizer = _LOCAL.tokenizer = _dictionary().tokenizer()
    return tokenizer


def _stemmer() -> snowballstemmer.stemmer:
    """This thread's Snowball stemmer: a stemmer keeps the word it works on in itself, so two
    threads sharing one corrupt each other's words (an index build analyses cases beside the
    encoder; a threaded server analyses queries side by side)."""
    stemmer = getattr(_LOCAL, "stemmer", None)
    if stemmer is None:
        stemmer = _LOCAL.stemmer = snowballstemmer.stemmer("english")
    return stemmer


@functools.lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


def split_runs(text: str) -> list[tuple[bool, str, int]]:
    """Split normalised text into (is_cjk, run, start) pieces, in order."""
    runs: list[tuple[bool, str, int]] = []
    pos = 0
    for match in CJK_RUN.finditer(text):
        if match.start() > pos:
            runs.append((False, text[pos : match.start()], pos))
        runs.append((True, match.group(), match.start()))
        pos = match.end()
    if pos < len(text):
        runs.append((False, text[pos:], pos))
    return runs


def japanese_words(run: str, mode: str = "C") -> list[tuple[str, int, int]]:
    """Sudachi morphemes of a Japanese run as (normalized_form, start, end); particles and symbols dropped."""
    from sudachipy import SplitMode

    split = {"A": SplitMode.A, "B": SplitMode.B, "C": SplitMode.C}[mode]
    tokens = []
    for m in _sudachi().tokenize(run, split):
        if m.part_of_speech()[0] in _SPLIT_JA_POS:
            continue
        tokens.append((m.normalized_form(), m.begin(), m.end()))
    return tokens


def english_words(run: str, stem: bool = True) -> list[tuple[str, int, int]]:
    """Latin words as (stem, start, end); English stop words dropped."""
    tokens = []
    for match in _LATIN_WORD.finditer(run):
        word = match.group().replace("’", "'")
        if word in ENGLISH_STOP_WORDS:
            continue
        stemmed = (
            stem and not word[-1].isdigit()
        )  # Snowball only rewrites letter suffixes: numbers, ids pass as they are
        tokens.append((_stem(word) if stemmed else word, match.start(), match.end()))
    return tokens


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """``words`` tokens with their spans in the *normalised* text."""
    spans: list[tuple[str, int, int]] = []
    for is_cjk, run, start in split_runs(normalize(text)):
        pieces = japanese_words(run) if is_cjk else english_words(run)
        spans.extend((tok, start + s, start + e) for tok, s, e in pieces)
    return spans


def words(text: str) -> list[str]:
    """Language-aware word tokens (Sudachi for Japanese, stems for English)."""
    return [tok for tok, _, _ in word_spans(text)]


def bigrams(text: str) -> list[str]:
    """Overlapping character bigrams of every CJK run (a lone character stays a unigram)."""
    grams: list[str] = []
    for match in CJK_RUN.finditer(normalize(text)):
        run = match.group()
        grams.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return grams


def plain(text: str) -> list[str]:
    """Lowercase alphanumeric runs, CJK unsplit: what a default analyzer does (the baseline)."""
    return [m.group() for m in re.finditer(r"\w+", normalize(text))]


# -- identifiers -----------------------------------------------------------------------------
_FILE_EXT = (
    r"(?:log|xml|json|ya?ml|conf|cfg|properties|ini|sql|jar|war|py|java|js|ts|csv|txt|md|html?"
    r"|pem|crt|key|sh|toml|gz|zip|pdf|docx?|xlsx?)"
)
_IDENT_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"(?<![\w.-])[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?![\w-])"
    ),  # dotted: a.b.C, mail.smtp.timeout
    re.compile(
        r"(?<![\w.-])[\w-]+(?:\.[\w-]+)*\." + _FILE_EXT + r"(?![\w])", re.IGNORECASE
    ),  # file names
    re.compile(r"\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b"),  # CamelCase: NullPointerException
    re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b", re.IGNORECASE),  # snake_case
    re.compile(
        r"(?<![\w-])[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)+(?![\w-])"
    ),  # hyphenated: foo-bar5
)
_HTTP_STATUS = re.compile(
    r"\bHTTP(?:/\d(?:\.\d)?)?[\s:]*([1-5]\d\d)\b|\bstatus(?:\s*code)?[\s:=]+([1-5]\d\d)\b|ステータス(?:コード)?\s*[:=]?\s*([1-5]\d\d)",
    re.IGNORECASE,
)
_SQLSTATE = re.compile(r"\bSQLSTATE[\s:=\[]*([0-9A-Z]{5})\b", re.IGNORECASE)


def _has_digit_or_mixed(token: str) -> bool:
    return (
        any(c.isdigit() for c in token)
        or "." in token
        or "_" in token
        or any(c.isupper() for c in token[1:])
    )


def identifiers(text: str) -> list[str]:
    """Identifiers kept whole (case-folded), in order of appearance, repeated as often as they occur."""
    text = unicodedata.normalize("NFKC", text)
    found: set[tuple[int, str]] = set()
    for start, _end, code in find_codes(text):
        found.add((start, canonical_code(code)))
    for pattern in _IDENT_PATTERNS:
        for match in pattern.finditer(text):
            token = match.group().strip(".")
            if "-" in token and not _has_digit_or_mixed(token) and pattern is _IDENT_PATTERNS[4]:
                continue  # plain hyphenated words ("e-mail", "sign-in") are words, not identifiers
            found.add((match.start(), token.casefold()))
            if "." in token and pattern is _IDENT_PATTERNS[0]:
                last = token.rsplit(".", 1)[1]
                if last[:1].isupper():  # java.lang.OutOfMemoryError -> OutOfMemoryError
                    found.add((match.start() + token.rfind(".") + 1, last.casefold()))
    for pattern, prefix in ((_HTTP_STATUS, "http-"), (_SQLSTATE, "")):
        for match in pattern.finditer(text):
            code = next(g for g in match.groups() if g)
            found.add((match.start(), (prefix + code).casefold()))
    return [tok for _, tok in sorted(found)]


def query_identifier_candidates(text: str) -> list[str]:
    """Identifiers plus every bare token with a digit (a bare ``40P01``): what a hit highlights."""
    bare = [t.strip("()[]{}<>\"'`,;:!?。、「」") for t in normalize(text).split()]
    return list(
        dict.fromkeys(identifiers(text) + [t for t in bare if len(t) >= 3 and re.search(r"\d", t)])
    )


def query_ident_terms(text: str) -> list[str]:
    """What the identifier field is searched with: identifiers plus every form a query could name a
    listed code by (:func:`kb.codes.query_code_candidates`), so a bare ``ETIMEDOUT`` or ``HTTP 503``
    finds the case that lists it. Plain words cost nothing there: the field holds only identifiers."""
    return list(
        dict.fromkeys(identifiers(text) + [t for t in query_code_candidates(text) if len(t) >= 2])
    )


Analyzer = Callable[[str], list[str]]
ANALYZERS: dict[str, Analyzer] = {
    "words": words,
    "bigrams": bigrams,
    "idents": identifiers,
    "plain": plain,
}


def analyzer(name: str) -> Analyzer:
    """Look up an analyzer by name; an unknown name lists the choices."""
    try:
        return ANALYZERS[name]
    except KeyError:
        raise ValueError(
            f"unknown analyzer '{name}' (choices: {', '.join(sorted(ANALYZERS))})"
        ) from None
