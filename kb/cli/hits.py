"""The human form of a search response in the terminal: each hit with why it is listed."""

from __future__ import annotations

import html
from typing import Any

import click

from kb.cli.root import plural


LANGUAGES = {"ja": "Japanese", "en": "English"}


KINDS = {"words": "words", "code": "error code", "log": "log"}


def _terms(hit: Any, query_text: str) -> list[str]:
    """The query's words as the case writes them (the explanation's), else the matched terms."""
    from indexer.highlight import readable_terms

    explained = (hit.why.get("explain") or {}).get("words")
    return list(explained) if explained else readable_terms(hit.why.get("matched_terms") or [], query_text)


def _listed(items: list[str], limit: int = 4) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def _reason_phrases(hit: Any, query_text: str) -> list[str]:
    """Why a hit is listed, one sentence per reason of ``why["reasons"]`` (the web UI's English
    sentences, webui.i18n ``why.*``); empty for a weak candidate."""
    explain = hit.why.get("explain") or {}
    phrases: list[str] = []
    for reason in hit.why.get("reasons") or []:
        if reason == "exact_code":
            codes = explain.get("codes") or []
            phrases.append(f"lists error code {_listed(codes)}, which your query names" if codes
                           else "lists an error code your query names")
        elif reason == "words":
            codes = {c.casefold() for c in explain.get("codes") or []} if "exact_code" in hit.why.get("reasons") else set()
            words = [w for w in _terms(hit, query_text) if w.casefold() not in codes]  # a listed code is said once
            if words or not codes:
                phrases.append(f"holds your words: {_listed(words, 6)}" if words else "holds most of your words")
        elif reason == "log":
            lines = explain.get("log_lines") or []
            if lines:
                from indexer.explain import line_ranges  # only an explained hit names log lines

                phrases.append(f"same log signature as line{'s' if len(lines) > 1 else ''} {line_ranges(lines)} of your paste")
            else:
                phrases.append("its logs have the same signature as your paste")
        elif reason == "meaning":
            phrases.append("close in meaning: it stands out from the other candidates")
        elif reason.startswith("related:"):
            related = explain.get("related") or {"id": reason.split(":", 1)[1]}
            via = related.get("codes") or related.get("words") or []
            phrases.append(f"related to {related['id']}, which matched" + (f" {_listed(via, 3)}" if via else ""))
        elif reason == "nearest":
            phrases.append("similar content")
        else:
            phrases.append(reason)
    return list(dict.fromkeys(phrases))


def _hit_heading(n: int | None, hit: Any) -> str:
    other = f"  ({LANGUAGES.get(hit.lang, hit.lang)} case)" if hit.other_language else ""
    number = f"{n}. " if n is not None else "- "
    return f"{number}{hit.id}  {hit.title}  [{hit.status}] {', '.join(hit.versions)}{other}".rstrip()


def print_hits(response: Any, query_text: str | None = None, similar_to: str | None = None) -> None:
    """The human form of a search response: the matches, counted, then the weak candidates apart."""
    from indexer.highlight import plain_text

    query = response.query
    text = query_text or query["text"]
    kind = f"{LANGUAGES.get(query['lang'], query['lang'])} {KINDS.get(query['kind'], query['kind'])} query"
    if similar_to:
        head, kind = f"{plural(len(response.hits), 'case', 'cases')} similar to {similar_to}", "nearest first"
    elif response.total:
        head = plural(response.total, "case matches", "cases match")
    else:
        head = "No case matches"
    click.echo(f"{head} ({kind}, {response.took_ms:.0f} ms, {response.generation})")
    for n, hit in enumerate(response.hits, start=1):
        why = hit.why
        ranks = ", ".join(f"{leg} #{why[leg]}" for leg in ("lexical", "signature", "dense", "sparse") if why.get(leg))
        click.echo(f"\n{_hit_heading(n, hit)}")
        phrases = _reason_phrases(hit, text)
        if phrases:
            click.echo(f"   why: {'; '.join(phrases)}")
        click.echo(f"   matched {hit.section_heading or '-'}" + (f" ({ranks})" if ranks else ""))
        if hit.snippet:
            click.echo("   " + html.unescape(plain_text(hit.snippet.replace("<mark>", "[").replace("</mark>", "]"))))
        if hit.resolution:
            click.echo(f"   → {hit.resolution}")
    shown = response.total - len(response.hits)
    if shown > 0 and response.hits and not similar_to:
        click.echo(f"\n({plural(shown, 'more match', 'more matches')} not shown; use --limit)")
    weak = getattr(response, "weak", None) or []
    if weak:
        click.echo(f"\nWeak candidates, not counted (no evidence of a match of their own): {len(weak)}")
        for hit in weak:
            click.echo(_hit_heading(None, hit))
            terms = _terms(hit, text)
            if terms:
                click.echo(f"    shares: {', '.join(terms)}")
