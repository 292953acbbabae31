"""Section heading aliases: Japanese and English headings mapped to one canonical name."""

from __future__ import annotations

import unicodedata

# canonical name -> headings that mean it (compared after NFKC + casefold)
HEADING_ALIASES: dict[str, tuple[str, ...]] = {
    "symptoms": ("症状", "現象", "事象", "symptoms", "symptom", "problem"),
    "environment": ("環境", "発生環境", "environment"),
    "cause": ("原因", "根本原因", "cause", "root cause"),
    "resolution": ("対処", "対応", "解決策", "対処方法", "resolution", "solution", "fix"),
    "workaround": ("回避策", "暫定対処", "workaround"),
    "investigation": ("調査", "調査内容", "調査結果", "investigation", "analysis"),
    "logs": ("ログ", "ログ抜粋", "logs", "log", "log excerpt"),
    "prevention": ("再発防止", "再発防止策", "prevention"),
    "references": ("参考", "参考情報", "関連情報", "references", "see also"),
}

SECTION_ORDER: tuple[str, ...] = tuple(HEADING_ALIASES)
SECTION_LABELS: dict[str, tuple[str, str]] = {
    "symptoms": ("症状", "Symptoms"),
    "environment": ("環境", "Environment"),
    "cause": ("原因", "Cause"),
    "resolution": ("対処", "Resolution"),
    "workaround": ("回避策", "Workaround"),
    "investigation": ("調査", "Investigation"),
    "logs": ("ログ", "Logs"),
    "prevention": ("再発防止", "Prevention"),
    "references": ("参考", "References"),
}

_LOOKUP = {
    unicodedata.normalize("NFKC", alias).casefold(): name
    for name, aliases in HEADING_ALIASES.items()
    for alias in aliases
}


def canonical_section(heading: str) -> str | None:
    """Canonical name for a heading such as ``症状``, ``Symptoms`` or ``症状 / Symptoms``.

    Returns None when the heading (or any of its ``/``-separated parts) is unknown or the
    parts disagree.
    """
    parts = [
        unicodedata.normalize("NFKC", p).casefold().strip(" :：")
        for p in heading.replace("／", "/").split("/")
    ]
    names = {_LOOKUP.get(p) for p in parts if p}
    if len(names) != 1:
        return None
    return names.pop()


def section_label(name: str) -> str:
    """How a canonical section is written as a heading, both languages: ``原因 / Cause`` for ``cause``."""
    ja, en = SECTION_LABELS.get(name, (name, name))
    return f"{ja} / {en}"


def known_headings() -> str:
    """A short listing of accepted headings, for error messages."""
    return ", ".join(section_label(name) for name in SECTION_LABELS)
