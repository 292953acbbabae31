"""Cases -> section-sized chunks, the unit of dense retrieval (pure)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from kb.case import Case

MAX_CHUNK_CHARS = 1200
_FENCE = re.compile(r"^```.*$", re.MULTILINE)


@dataclass(frozen=True)
class Chunk:
    """A piece of one section, with the text that is embedded and its hash."""

    case_id: str
    section: str
    ordinal: int
    text: str

    @property
    def text_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def split_paragraphs(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Greedy packing of blank-line-separated paragraphs into pieces of at most ``limit`` chars."""
    pieces: list[str] = []
    current = ""
    for para in re.split(r"\n\s*\n", text.strip()):
        while len(para) > limit:
            head, para = para[:limit], para[limit:]
            if current:
                pieces.append(current)
                current = ""
            pieces.append(head)
        if current and len(current) + len(para) + 2 > limit:
            pieces.append(current)
            current = para
        else:
            current = f"{current}\n\n{para}" if current else para
    if current.strip():
        pieces.append(current)
    return pieces


def case_chunks(case: Case, limit: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """One or more chunks per non-empty section; each starts with the title for context."""
    chunks: list[Chunk] = []
    for section in case.sections:
        body = _FENCE.sub("", section.text)
        for ordinal, piece in enumerate(split_paragraphs(body, limit)):
            chunks.append(
                Chunk(case.id, section.name, ordinal, f"{case.title}\n{section.heading}\n{piece}")
            )
    return chunks
