"""The cases' lexical documents (:func:`indexer.lexical.case_document`), analysed in one worker
process per core for a large build: the analysis (Sudachi, Snowball, identifiers, signatures) is
pure Python, 1.9 ms of one core per case, and is the critical path of a full build whose vectors
are reused (docs "Performance")."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from indexer.lexical import FieldSpec, LexicalDoc, case_document
from kb.case import Case
from kb.parallel import cores, ordered_map

PARALLEL_CASES = 2000  # from this many cases to analyse, in worker processes
WORKER_CASES = 128  # cases per task sent to a worker

_WORKER: dict[str, Any] = {}


def documents(
    cases: Sequence[Case], fields: Sequence[FieldSpec], learned: Mapping[str, Sequence[str]]
) -> Iterator[LexicalDoc]:
    """Each case's document, in order (``learned``: its counting learned phrasings)."""
    workers = cores()
    if len(cases) < PARALLEL_CASES or workers < 2:
        yield from (case_document(c, fields, learned.get(c.id, ())) for c in cases)
        return
    tasks = (
        [(c, list(learned.get(c.id, ()))) for c in cases[start : start + WORKER_CASES]]
        for start in range(0, len(cases), WORKER_CASES)
    )
    for docs in ordered_map(_analyse, tasks, workers, _worker_init, (tuple(fields),)):
        yield from docs


def _worker_init(fields: tuple[FieldSpec, ...]) -> None:
    _WORKER["fields"] = fields


def _analyse(task: list[tuple[Case, list[str]]]) -> list[LexicalDoc]:
    return [case_document(case, _WORKER["fields"], learned) for case, learned in task]
