"""Snippets with highlighted query terms (pure; output is HTML-escaped with ``<mark>``)."""

from __future__ import annotations

import bisect
import functools
import html
import re
from dataclasses import dataclass

from indexer import analysis

_FENCE_LINE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_MD_NOISE = re.compile(
    r"(\*\*|__|`|^#+\s*|^\s*[-*+]\s+|^\s*\d+\.\s+|!\[[^\]]*\]\([^)]*\))", re.MULTILINE
)
_HIRAGANA_ONLY = re.compile(
    r"[\u3040-\u309f]+"
)  # する, なる...: matched, but not worth a highlight
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
# Japanese auxiliary lemmas the analyzer produces for する/なる/ある/いる: true matches, but no help to a reader.
_FUNCTION_LEMMAS = frozenset(
    {"為る", "成る", "有る", "居る", "出来る", "言う", "事", "物", "所", "様"}
)


@dataclass(frozen=True)
class QueryTerms:
    """What a query looks for, in the forms the analyzers produce."""

    words: frozenset[str]
    idents: frozenset[str]
    forms: tuple[
        tuple[str, str], ...
    ] = ()  # (analysed word, as typed), in query order: for the quick count

    @classmethod
    def of(cls, text: str) -> QueryTerms:
        """The query's terms; analysed once per text (a results page asks again for every hit)."""
        return _query_terms(text)

    def __bool__(self) -> bool:
        return bool(self.words or self.idents)

    @functools.cached_property
    def quick_groups(self) -> tuple[tuple[str, ...], ...]:
        """What :func:`quick_count` looks for: per query word its analysed and typed forms (either
        counts), then each identifier. Words worth no highlight (hiragana-only, auxiliary lemmas,
        single letters, numbers) are left out, and a huge pasted log keeps its first terms only."""
        groups = [
            tuple(dict.fromkeys(f for f in (tok, typed) if len(f) > 1))
            for tok, typed in self.forms
            if _worth_marking(tok)
            and tok not in _FUNCTION_LEMMAS
            and not _HIRAGANA_ONLY.fullmatch(typed)
        ]
        groups += [
            (ident,) for ident in sorted(self.idents, key=lambda i: (-len(i), i)) if len(ident) > 1
        ]
        return tuple(dict.fromkeys(g for g in groups if g))[:QUICK_GROUPS]


@functools.lru_cache(maxsize=64)
def _query_terms(text: str) -> QueryTerms:
    norm, spans = analysis.normalize(text), analysis.word_spans(text)
    return QueryTerms(
        frozenset(tok for tok, _, _ in spans),
        frozenset(analysis.query_identifier_candidates(text)),
        tuple(dict.fromkeys((tok, norm[s:e]) for tok, s, e in spans)),
    )


QUICK_GROUPS = 64
SHORT_WORD = 3  # Latin keys this short count only at a word start: "ip" not in "skip", "log" not in "catalog"


def plain_text(markdown: str) -> str:
    """Markdown reduced to readable plain text (fences, emphasis, list markers and link targets removed)."""
    text = _FENCE_LINE.sub("", markdown)
    text = _LINK.sub(r"\1", text)
    text = _MD_NOISE.sub("", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n{2,}", "\n", text)).strip()


@functools.lru_cache(maxsize=4096)
def analysed(text: str) -> tuple[str, tuple[int, ...], tuple[tuple[str, int, int], ...]]:
    """(normalised text, offsets back to ``text``, word tokens with original spans); cached, as the
    same top cases are highlighted again and again."""
    norm, offsets = analysis.normalize_with_offsets(text)
    tokens = []
    for is_cjk, run, start in analysis.split_runs(norm):
        pieces = (
            [
                p
                for p in analysis.japanese_words(run)
                if not _HIRAGANA_ONLY.fullmatch(run[p[1] : p[2]])
            ]
            if is_cjk  # a Latin run holds no hiragana
            else analysis.english_words(run)
        )
        tokens += [(tok, offsets[start + s], offsets[start + e]) for tok, s, e in pieces]
    return norm, tuple(offsets), tuple(tokens)


def _worth_marking(token: str) -> bool:
    """Single letters and bare numbers match, but marking them only adds noise to a snippet."""
    return len(token) > 1 and not token.isdigit()


def match_spans(text: str, terms: QueryTerms) -> list[tuple[int, int]]:
    """Spans of ``text`` (original offsets) whose analysed form is one of the query's terms."""
    norm, offsets, tokens = analysed(text)
    spans = [(s, e) for tok, s, e in tokens if tok in terms.words and _worth_marking(tok)]
    for ident in terms.idents:
        start = norm.find(ident) if ident else -1
        while (
            start >= 0
        ):  # plain search: a regex per identifier and section would be compiled every time
            if whole_token_at(norm, start, start + len(ident)):
                spans.append((offsets[start], offsets[start + len(ident)]))
            start = norm.find(ident, start + 1)
    return _merge(sorted(spans))


def whole_token_at(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` is a whole token, not a piece of a longer one: ``PRF-501`` is not
    in ``PRF-50120`` nor ``PRF-501-2``, ``342`` not in ``18342``; ``SCH-13208.`` ends a sentence."""
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    joined = after in "-_./:" and end + 1 < len(text) and text[end + 1].isalnum()
    return not (before.isalnum() or before == "_") and not (
        after.isalnum() or after == "_" or joined
    )


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def count_matches(text: str, terms: QueryTerms) -> int:
    return len(match_spans(text, terms)) if terms else 0


def quick_count(text: str, terms: QueryTerms) -> int:
    """About how often the query's terms occur in ``text``: substring counts on the normalised text,
    so a stem also finds its longer inflections ("connect" in "connection"), though not those it is
    no prefix of ("retri" misses "retry"). A cheap way to choose the section a snippet is cut from
    without analysing every section; the snippet itself is matched exactly (:func:`match_spans`).
    Markdown is counted as written (a link target too): stripping it per section would cost more."""
    norm = analysis.normalize(text)
    return sum(max(_occurrences(norm, key) for key in group) for group in terms.quick_groups)


def _occurrences(norm: str, key: str) -> int:
    if len(key) > SHORT_WORD or not key.isascii():
        return norm.count(key)
    return len(_at_word_start(key).findall(norm))


@functools.lru_cache(maxsize=4096)
def _at_word_start(key: str) -> re.Pattern[str]:
    return re.compile(r"(?<![0-9a-z_])" + re.escape(key))


def snippet(text: str, terms: QueryTerms, width: int = 180) -> str:
    """The ``width``-character window with the most matches, escaped, matches wrapped in ``<mark>``."""
    text = plain_text(text)
    spans = match_spans(text, terms) if terms else []
    start = 0
    if spans:
        starts = [
            s for s, _ in spans
        ]  # sorted and disjoint: the window from span i holds spans i..j-1
        best = max(
            range(len(spans)), key=lambda i: bisect.bisect_left(starts, starts[i] + width) - i
        )
        start = max(0, spans[best][0] - width // 5)
    end = min(len(text), start + width)
    out = ["…" if start else ""]
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    out.append("…" if end < len(text) else "")
    return "".join(out).replace("\n", " ")


def summary(markdown: str, limit: int = 220) -> str:
    """Plain-text summary: the first ``limit`` characters of a section."""
    text = plain_text(markdown).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def readable_terms(matched: list[str], query_text: str, limit: int = 8) -> list[str]:
    """The matched terms worth showing a reader: the query's words and identifiers (bigram pieces
    only when nothing else matched), no bare numbers, auxiliary lemmas or terms inside longer ones."""
    terms = QueryTerms.of(query_text)
    wanted = terms.words | terms.idents
    chosen = [t for t in matched if t in wanted] or list(matched)
    useful = [t for t in chosen if len(t) > 1 and not t.isdigit() and t not in _FUNCTION_LEMMAS]
    shown = [t for t in useful if not any(t != other and t in other for other in useful)]
    return shown[:limit]
