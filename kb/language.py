"""Language detection for Japanese / English text (pure, dependency-free).

Kana is decisive for Japanese; kanji without kana count as Japanese only when they make up a
real share of the letters, so an English log with one CJK file name stays English.
"""

from __future__ import annotations

import re

_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]")


def detect_language(text: str) -> str:
    """Return ``"ja"`` or ``"en"`` for a piece of text (``"en"`` when there are no letters)."""
    kana = len(_KANA.findall(text))
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if kana >= 2 or (kana and not latin):
        return "ja"
    cjk = kana + han
    if cjk and cjk * 3 >= latin:
        return "ja"
    return "en"
