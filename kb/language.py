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


_TOKEN_EDGES = "\"'`()[]{}<>,;:!?.。、「」"


def has_words(text: str) -> bool:
    """Whether ``text`` holds words of a person's language, not only identifiers: any kana or
    kanji, or a Latin word of two letters or more written in lower case or capitalised, so not an
    acronym (``HTTP``, ``ORA``), a class name (``NullPointerException``) or part of an identifier
    (a token with a digit or joined by ``-``, ``_``, ``.``: ``SCH-13208``, ``E_ACCESSDENIED``,
    ``java.io.IOException``). A bare error code has no language, so no hit is "in the other
    language" for it."""
    if _KANA.search(text) or _HAN.search(text):
        return True
    for token in text.split():
        word = token.strip(_TOKEN_EDGES)
        if len(word) >= 2 and word.isascii() and word.isalpha() and word[1:].islower():
            return True
    return False
