"""The human form of a search response in the terminal: each hit with why it is listed."""

from __future__ import annotations

import html
from typing import Any

import click

from kb.cli.root import plural

LANGUAGES = {"ja": "Japanese", "en": "English"}


KINDS = {"words": "words", "code": "error code", "log": "log"}


def _reason_phrases(hit: Any, query_text: str) -> list[str]:
    """Why a hit is listed: the web UI's English sentences (:func:`indexer.reasons.hit_reasons`),
    each starting in lower case; empty for a hit nothing clearly matched."""
    from indexer.reasons import hit_reasons
    from webui.i18n import translate

    phrases = [
        translate(key, "en", **values)
        for key, values in hit_reasons(hit, query_text)
        if key != "why.weak"
    ]
    return [p[:1].lower() + p[1:] for p in phrases]


def _hit_heading(n: int | None, hit: Any) -> str:
    other = f"  ({LANGUAGES.get(hit.lang, hit.lang)} case)" if hit.other_language else ""
    number = f"{n}. " if n is not None else "- "
    return (
        f"{number}{hit.id}  {hit.title}  [{hit.status}] {', '.join(hit.versions)}{other}".rstrip()
    )


def print_hits(response: Any, query_text: str | None = None, similar_to: str | None = None) -> None:
    """The human form of a search response: the matches, counted, then the weak candidates apart."""
    from indexer.highlight import plain_text
    from indexer.reasons import display_terms

    query = response.query
    text = query_text or query["text"]
    written = LANGUAGES.get(query["lang"], query["lang"])  # none for a bare code or a log
    kind = f"{written} {KINDS.get(query['kind'], query['kind'])} query".lstrip()
    if similar_to:
        head, kind = (
            f"{plural(len(response.hits), 'case', 'cases')} similar to {similar_to}",
            "nearest first",
        )
    elif response.total:
        head = plural(response.total, "case matches", "cases match")
    else:
        head = "No case matches"
    click.echo(f"{head} ({kind}, {response.took_ms:.0f} ms, {response.generation})")
    for n, hit in enumerate(response.hits, start=1):
        why = hit.why
        ranks = ", ".join(
            f"{leg} #{why[leg]}"
            for leg in ("lexical", "signature", "dense", "sparse")
            if why.get(leg)
        )
        click.echo(f"\n{_hit_heading(n, hit)}")
        phrases = _reason_phrases(hit, text)
        if phrases:
            click.echo(f"   why: {'; '.join(phrases)}")
        click.echo(f"   matched {hit.section_heading or '-'}" + (f" ({ranks})" if ranks else ""))
        if hit.snippet:
            click.echo(
                "   "
                + html.unescape(
                    plain_text(hit.snippet.replace("<mark>", "[").replace("</mark>", "]"))
                )
            )
        if hit.resolution:
            click.echo(f"   → {hit.resolution}")
    shown = response.total - len(response.hits)
    if shown > 0 and response.hits and not similar_to:
        click.echo(f"\n({plural(shown, 'more match', 'more matches')} not shown; use --limit)")
    weak = getattr(response, "weak", None) or []
    if weak:
        click.echo(
            f"\nWeak candidates, not counted (no evidence of a match of their own): {len(weak)}"
        )
        for hit in weak:
            click.echo(_hit_heading(None, hit))
            terms = display_terms(hit, text)
            if terms:
                click.echo(f"    shares: {', '.join(terms)}")
