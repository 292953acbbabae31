"""Safe HTML for cases: raw HTML in Markdown is escaped, dangerous link schemes are dropped."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from kb.case import Case
from kb.headings import SECTION_LABELS

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):")


def _validate_link(url: str) -> bool:
    """Only http(s), mailto and relative links survive; javascript:, data:, vbscript: and friends do not."""
    candidate = re.sub(r"[\x00-\x20\x7f]", "", url).lower()
    scheme = _SCHEME.match(candidate)
    return scheme is None or scheme.group(1) in SAFE_SCHEMES


def markdown_renderer() -> MarkdownIt:
    """CommonMark with tables and strikethrough; ``html=False`` escapes raw HTML."""
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = _validate_link  # type: ignore[method-assign]  # markdown-it's documented hook is replacing this method
    return md


def render_markdown(text: str, md: MarkdownIt | None = None) -> str:
    """Render Markdown to HTML that is safe to embed in a page."""
    return (md or markdown_renderer()).render(text)


def section_label(name: str, lang: str) -> str:
    """The heading shown for a canonical section in the UI language."""
    ja, en = SECTION_LABELS.get(name, (name, name))
    return ja if lang == "ja" else en


def render_case_sections(case: Case) -> list[dict[str, str]]:
    """Each section as ``{"name", "heading", "html"}`` for templates."""
    md = markdown_renderer()
    return [
        {"name": s.name, "heading": s.heading, "html": render_markdown(s.text, md)}
        for s in case.sections
    ]
