"""Lexical engines by name (a table, so an unknown name lists the choices)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from indexer.lexical import FieldSpec, LexicalEngine


def _whoosh(path: Path, fields: Sequence[FieldSpec], create: bool) -> LexicalEngine:
    from indexer.whoosh_engine import WhooshEngine

    return WhooshEngine(path, fields, create=create)


def _tantivy(path: Path, fields: Sequence[FieldSpec], create: bool) -> LexicalEngine:
    from indexer.tantivy_engine import TantivyEngine

    return TantivyEngine(path, fields, create=create)


ENGINES: dict[str, Callable[[Path, Sequence[FieldSpec], bool], LexicalEngine]] = {"whoosh": _whoosh, "tantivy": _tantivy}


def lexical_engine(name: str, path: Path, fields: Sequence[FieldSpec], create: bool = False) -> LexicalEngine:
    """Create (``create=True``) or open the named engine's index in ``path``."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown lexical engine '{name}' (choices: {', '.join(ENGINES)})") from None
    return factory(path, fields, create)
