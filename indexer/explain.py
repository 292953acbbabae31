"""Why a hit is shown, in the words of the case (pure functions, no engine or store).

The engines match analysed forms: Snowball stems (``samesit``), Sudachi's normalised forms
(``御客様`` for お客様, ``此の`` for この) and CJK bigrams (``ール``). A reader needs the words as
the case writes them, so the query's words are found again in the case's own text with the same
analyzer and shown as they appear there. Words that say nothing about the match (negations,
function words, numbers, single letters) are never shown as matches.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from indexer import analysis
from indexer.highlight import analysed
from kb import logsig
from kb.case import Case
from kb.codes import code_variants, query_code_candidates

# Matched, but no evidence a reader can use: a negation matches every "cannot" and "ない".
NEGATIONS = frozenset({"not", "no", "cannot", "ない", "無い", "ぬ", "ず"})
FUNCTION_LEMMAS = frozenset(
    {
        "為る",
        "成る",
        "有る",
        "居る",
        "出来る",
        "言う",
        "事",
        "物",
        "所",
        "様",
        "此の",
        "其の",
        "其れ",
        "此れ",
    }
)
_HIRAGANA_ONLY = re.compile(r"[\u3040-\u309f]+")
MAX_WORDS = 8
MAX_IDENT = 40  # a stack frame's whole path is no word to show


def meaningful(token: str, typed: str = "") -> bool:
    """Whether a query word can be shown as evidence: not a negation, function word, number or single letter."""
    if len(token) < 2 or token.isdigit() or token in NEGATIONS or token in FUNCTION_LEMMAS:
        return False
    return not (typed and _HIRAGANA_ONLY.fullmatch(typed))


@functools.lru_cache(maxsize=256)
def _query_keys(query: str) -> tuple[tuple[str, bool], ...]:
    """(key, is an identifier) of the query's meaningful words and identifiers, in query order; a
    word that is a piece of an identifier (``prf`` of ``PRF-501``) is not a word of its own.
    Cached: every hit of a page asks for the same query's keys."""
    norm = analysis.normalize(query)
    idents = [
        i
        for i in analysis.query_identifier_candidates(query)
        if 1 < len(i) <= MAX_IDENT and "(" not in i
    ]
    parts = {p for ident in idents for p in re.split(r"[\W_]+", ident) if p}
    keys: dict[str, tuple[int, bool]] = {}
    for tok, s, e in analysis.word_spans(query):
        if meaningful(tok, norm[s:e]) and not any(p == tok or p.startswith(tok) for p in parts):
            keys.setdefault(tok, (s, False))
    for ident in idents:
        keys.setdefault(ident, (max(norm.find(ident), 0), True))
    return tuple(
        (key, is_ident) for key, (_, is_ident) in sorted(keys.items(), key=lambda item: item[1][0])
    )


def query_words(query: str) -> list[str]:
    """The query's meaningful analysed words (not identifiers or their pieces), in query order, once each."""
    return [key for key, is_ident in _query_keys(query) if not is_ident]


def surface_words(query: str, case_texts: Iterable[str], limit: int = MAX_WORDS) -> list[str]:
    """The query's words as they are written in the case (``SameSite`` for the query's "samesite",
    ``お客様`` for "御客様"), and the identifiers it names (``SCH-13208``), in query order.
    ``case_texts`` are searched in order (title, the snippet's section, the rest) until every
    word is found; a word inside another shown one is left out."""
    keys = _query_keys(query)
    wanted = {key for key, is_ident in keys if not is_ident}
    idents = [key for key, is_ident in keys if is_ident]
    found: dict[str, str] = {}
    enough = min(len(keys), limit + 2)  # a few spare: a word inside another shown one is left out
    for text in case_texts:
        if len(found) >= enough:
            break  # the rest of the case need not be analysed
        if not text or not _may_hold(
            text, wanted - found.keys(), [i for i in idents if i not in found]
        ):
            continue
        norm, offsets, tokens = analysed(text)
        for tok, s, e in tokens:
            if tok in wanted and tok not in found:
                found[tok] = text[s:e]
        for ident in idents:
            at = _find_whole(norm, ident) if ident not in found else -1
            if at >= 0:
                found[ident] = text[offsets[at] : offsets[at + len(ident)]]
    shown = list(dict.fromkeys(found[key] for key, _ in keys if key in found))
    folded = [s.casefold() for s in shown]
    kept = [
        s for s, f in zip(shown, folded) if not any(f != other and f in other for other in folded)
    ]
    return kept[:limit]


def _may_hold(text: str, words: set[str], idents: Sequence[str]) -> bool:
    """False only when analysing ``text`` cannot find any of the query's missing ``words`` or
    ``idents``: a cheap test on the normalised text that spares a long case's other sections the
    analysis when a long query (a pasted log) holds words the case does not. An English stem is the
    word's own beginning but for its last letter ("retri" of "retry"); a Japanese word's normalised
    form may be written otherwise in the text, so such a word always means "analyse"."""
    norm = analysis.normalize(text)
    if any(ident in norm for ident in idents):
        return True
    return any(not w.isascii() or (w[:-1] if len(w) > 2 else w) in norm for w in words)


def _find_whole(norm: str, ident: str) -> int:
    """Where ``ident`` first stands in ``norm`` as a whole token, not inside a longer one
    (``prf-501`` is not in ``prf-50120``), or -1. A plain search: a pasted log names many
    identifiers, and a pattern compiled for each costs more than the search."""
    start = norm.find(ident)
    while start >= 0:
        end = start + len(ident)
        before = norm[start - 1] if start else ""
        after = norm[end] if end < len(norm) else ""
        if not _word_char(before) and not _word_char(after):
            return start
        start = norm.find(ident, start + 1)
    return -1


def _word_char(char: str) -> bool:
    """What the pattern ``[\\w-]`` matched: a letter, digit, underscore or hyphen."""
    return bool(char) and (char.isalnum() or char in "_-")


def named_codes(query: str, listed: Sequence[str]) -> list[str]:
    """The codes of ``listed`` (a case's ``error_codes``) that the query names, as the case lists them."""
    asked = _asked_codes(query)
    return [code for code in listed if asked & set(code_variants(code))]


@functools.lru_cache(maxsize=256)
def _asked_codes(query: str) -> frozenset[str]:
    """The codes a query names (cached: every hit of a page asks)."""
    return frozenset(query_code_candidates(query, strict=True))


@functools.lru_cache(maxsize=256)
def _line_signatures(query: str) -> tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...]:
    """(line number, whole-template tokens, trigram tokens) of each pasted line with a
    signature (cached: every hit of a page asks)."""
    lines = []
    for number, line in enumerate(query.splitlines(), start=1):
        tokens = logsig.signature_tokens(line)
        if tokens:  # else too few words to be a signature
            lines.append(
                (
                    number,
                    tuple(t for t in tokens if t.startswith("l")),
                    tuple(t for t in tokens if t.startswith("s")),
                )
            )
    return tuple(lines)


@functools.lru_cache(maxsize=512)
def _held_signatures(case_log: str) -> frozenset[str]:
    return frozenset(logsig.signature_tokens(case_log))


def matching_log_lines(query: str, case_log: str) -> list[int]:
    """The query's line numbers (1-based, as pasted) whose log signature the case's logs share:
    the same template, or at least half of the line's word trigrams."""
    if not case_log.strip():
        return []
    held = _held_signatures(case_log)
    return [
        number
        for number, whole, shingles in _line_signatures(query)
        if any(t in held for t in whole)
        or (shingles and sum(t in held for t in shingles) * 2 >= len(shingles))
    ]


def line_ranges(numbers: Iterable[int]) -> str:
    """``[2, 3, 4, 7]`` -> ``"2–4, 7"``: consecutive line numbers as ranges."""
    runs: list[list[int]] = []
    for n in sorted(set(numbers)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def case_texts(case: Case, first: str = "") -> list[str]:
    """A case's texts in the order words are looked for: title, section ``first``, the others."""
    sections = sorted(case.sections, key=lambda s: s.name != first)
    return [case.title, *(s.text for s in sections)]


def explain_case(
    query: str,
    case: Case,
    reasons: Sequence[str],
    section: str = "",
    by_signature: bool = False,
    parent: Case | None = None,
) -> dict[str, Any]:
    """What the results page says about one hit, in the case's words: ``words`` (the query's words as
    the case writes them), ``codes`` (the listed codes the query names), ``log_lines`` (the pasted
    lines whose signature the case's logs share) and, for a hit lifted as a related case,
    ``related`` (the matching case's id and what matched there)."""
    found: dict[str, Any] = {
        "words": surface_words(query, case_texts(case, section)),
        "codes": named_codes(query, case.error_codes),
    }
    found["log_lines"] = (
        matching_log_lines(query, logsig.log_text(case)) if by_signature or "log" in reasons else []
    )
    parent_id = next((r.split(":", 1)[1] for r in reasons if r.startswith("related:")), "")
    if parent_id:
        found["related"] = {
            "id": parent_id,
            "codes": named_codes(query, parent.error_codes) if parent else [],
            "words": surface_words(query, case_texts(parent), limit=4) if parent else [],
        }
    return found
