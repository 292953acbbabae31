"""Lexical engines by name (a table, so an unknown name lists the choices), and ``auto``: the
engine a corpus of a given size needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from indexer.lexical import FieldSpec, LexicalEngine


def _whoosh(path: Path, fields: Sequence[FieldSpec], create: bool) -> LexicalEngine:
    from indexer.whoosh_engine import WhooshEngine

    return WhooshEngine(path, fields, create=create)


def _tantivy(path: Path, fields: Sequence[FieldSpec], create: bool) -> LexicalEngine:
    from indexer.tantivy_engine import TantivyEngine

    return TantivyEngine(path, fields, create=create)


ENGINES: dict[str, Callable[[Path, Sequence[FieldSpec], bool], LexicalEngine]] = {
    "whoosh": _whoosh,
    "tantivy": _tantivy,
}


def lexical_engine(
    name: str, path: Path, fields: Sequence[FieldSpec], create: bool = False
) -> LexicalEngine:
    """Create (``create=True``) or open the named engine's index in ``path``."""
    try:
        factory = ENGINES[name]
    except KeyError:
        raise ValueError(
            f"unknown lexical engine '{name}' (choices: {', '.join(ENGINES)})"
        ) from None
    return factory(path, fields, create)


AUTO = "auto"
# Measured (docs/performance.md, "Lexical engines"; scripts/bench_lexical.py): whoosh's p95 grows
# linearly with the corpus (pasted logs, its slowest kind: about 15 ms at 200 cases on a quiet 2-core
# machine, 73 ms at 1,000), tantivy's stays under 11 ms up to 100,000 cases. Up to the crossover
# whoosh (pure Python, nothing compiled) leaves most of the 50 ms search budget to the other legs;
# above it, tantivy.
AUTO_CROSSOVER = 200
AUTO_HYSTERESIS = (
    0.8  # back to whoosh only below 80 % of the crossover: a corpus near it never flips to and fro
)


def resolve_engine(setting: str, case_count: int, live: str | None = None) -> tuple[str, str]:
    """The engine a build uses, and why: the setting itself unless it is ``auto``, which picks
    whoosh up to :data:`AUTO_CROSSOVER` cases and tantivy above; given the ``live`` engine, auto
    keeps it unless the corpus has moved clearly past the crossover (hysteresis)."""
    if setting != AUTO:
        return setting, f"KB_LEXICAL_ENGINE={setting}"
    if live == "tantivy" and AUTO_CROSSOVER * AUTO_HYSTERESIS <= case_count <= AUTO_CROSSOVER:
        return "tantivy", (
            f"auto: {case_count} cases, tantivy kept (whoosh again below "
            f"{int(AUTO_CROSSOVER * AUTO_HYSTERESIS)}, the crossover is {AUTO_CROSSOVER})"
        )
    if case_count > AUTO_CROSSOVER:
        return "tantivy", f"auto: {case_count} cases, above the crossover of {AUTO_CROSSOVER}"
    return "whoosh", f"auto: {case_count} cases, at or below the crossover of {AUTO_CROSSOVER}"
