"""Why a hit is listed, as (message key, values) sentences (pure).

The web UI says them in the reader's language (:mod:`webui.i18n` ``why.*``); the CLI says the
same sentences in English. One sentence per reason of ``hit.why["reasons"]`` (:mod:`indexer.evidence`).
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer import explain
from indexer.highlight import readable_terms
from indexer.searcher import Hit

LEGS = ("lexical", "signature", "dense", "sparse")


def display_terms(hit: Hit, query_text: str, limit: int = 8) -> list[str]:
    """The query's words a hit holds, as the case writes them (``SameSite``, not the stem ``samesit``);
    without the searcher's explanation, the readable matched terms (negations left out). An error
    code the hit is listed for is said once, by its own sentence, not again among the words."""
    shown = (hit.why.get("explain") or {}).get("words")
    if shown is not None:
        terms = list(shown)
    else:
        terms = [
            t
            for t in readable_terms(hit.why.get("matched_terms") or [], query_text, limit * 2)
            if explain.meaningful(t)
        ]
    codes = _listed_codes(hit)
    return [t for t in terms if t.casefold() not in codes][:limit]


def _listed_codes(hit: Hit) -> set[str]:
    """The error codes a hit has its own sentence for (casefolded)."""
    if "exact_code" not in (hit.why.get("reasons") or []):
        return set()
    return {c.casefold() for c in (hit.why.get("explain") or {}).get("codes") or []}


def _listed(items: Sequence[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def hit_reasons(hit: Hit, query_text: str = "") -> list[tuple[str, dict[str, str]]]:
    """Why a hit is on the page, as (message key, values) sentences for :mod:`webui.i18n`; never empty.

    One sentence per reason of ``hit.why["reasons"]`` (:mod:`indexer.evidence`): the error codes it
    lists, the query's words it holds, the pasted log lines its logs share, how it stands out in
    meaning, the matching case it is related to; a weak candidate says that nothing clearly matched."""
    why = hit.why
    found = why.get("explain") or {}
    sentences: list[tuple[str, dict[str, str]]] = []
    for reason in why.get("reasons") or []:
        if reason == "exact_code":
            codes = found.get("codes") or []
            sentences.append(
                ("why.code", {"codes": _listed(codes)}) if codes else ("why.code_any", {})
            )
        elif reason == "words":
            words = display_terms(hit, query_text)
            if words or not _listed_codes(hit):
                sentences.append(
                    ("why.words", {"words": _listed(words, 6)}) if words else ("why.words_any", {})
                )
        elif reason == "log":
            lines = found.get("log_lines") or []
            key = "why.log_line" if len(lines) == 1 else "why.log" if lines else "why.log_any"
            sentences.append((key, {"lines": explain.line_ranges(lines)} if lines else {}))
        elif reason == "meaning":
            sentences.append(("why.meaning", {}))
        elif (
            reason == "learned"
        ):  # never the phrasings' text: support may not read it (kb.phrasings)
            sentences.append(("why.learned", {}))
        elif reason.startswith("related:"):
            related = found.get("related") or {"id": reason.split(":", 1)[1]}
            via = related.get("codes") or related.get("words") or []
            values = {"id": related["id"], "via": _listed(via, 3)}
            sentences.append(("why.related_via", values) if via else ("why.related", values))
        elif reason == "nearest":
            sentences.append(("why.nearest", {}))
    if not sentences:
        sentences.append(("why.weak", {}))
    return _unique(sentences)


def _unique(sentences: list[tuple[str, dict[str, str]]]) -> list[tuple[str, dict[str, str]]]:
    out: list[tuple[str, dict[str, str]]] = []
    for sentence in sentences:
        if sentence not in out:
            out.append(sentence)
    return out


def leg_ranks(hit: Hit) -> list[tuple[str, int | bool]]:
    """(leg, rank) of each leg that found the hit, for engineers (a tooltip, not the explanation)."""
    return [(leg, hit.why[leg]) for leg in LEGS if hit.why.get(leg)]
