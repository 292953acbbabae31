"""The index job (kb and the indexer together): sync the store from the case files, then publish
a new generation if needed.

One run at a time (a lock in the data folder; the OS releases it when a process dies, so a
killed run never leaves a stale lock behind).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from filelock import FileLock, Timeout

from indexer import generation as gen
from indexer.builder import build_generation, plan_build
from indexer.dense import LazyEncoder
from kb.errors import KBError, Problem, ReindexBusyError
from kb.migrate import open_store
from kb.parse import PARSE_VERSION
from kb.settings import Settings
from kb.sync import SyncReport, sync_store

Progress = Callable[[str], None] | None
LOCK_FILE = "reindex.lock"


@dataclass(frozen=True)
class Refusal:
    """A case file that was not indexed, with the errors that refused it (the last version that
    was indexed, if any, stays searchable)."""

    path: str
    errors: tuple[Problem, ...]

    def lines(self) -> list[str]:
        """``file:line: message`` for each reason."""
        return [str(p) for p in self.errors] or [
            f"{self.path}: not indexed (no reason was recorded)"
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "errors": [p.to_dict() for p in self.errors]}


def _same_file(a: str, b: str) -> bool:
    """Whether two shown paths name one file: equal, or one ends with the other's parts (a stored
    problem of an unchanged file keeps the cases folder as it was spelled when it was parsed)."""
    pa, pb = PurePath(a).parts, PurePath(b).parts
    shorter, longer = sorted((pa, pb), key=len)
    return bool(shorter) and longer[len(longer) - len(shorter) :] == shorter


@dataclass
class IndexReport:
    sync: SyncReport
    generation: str | None = None
    published: bool = False
    build: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def problems(self) -> list[Problem]:
        return self.sync.problems

    @property
    def failed(self) -> list[str]:
        return self.sync.failed

    @property
    def refused(self) -> list[Refusal]:
        """Every case file this run did not index, each with the errors that refused it."""
        errors: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.sync.problems:
            if problem.is_error:
                errors[problem.path].append(problem)
        refused = []
        for path in dict.fromkeys(self.sync.failed):
            found = errors.get(path) or [
                p for shown, group in errors.items() if _same_file(shown, path) for p in group
            ]
            refused.append(Refusal(path, tuple(found)))
        return refused

    def summary(self) -> str:
        state = (
            f"published {self.generation}"
            if self.published
            else f"index unchanged ({self.generation or 'none'})"
        )
        return f"{self.sync.summary()}; {state}; {self.seconds:.2f}s"


def reindex_lock(settings: Settings, wait: float = 0) -> FileLock:
    """Acquire the data folder's reindex lock or raise :class:`ReindexBusyError`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise ReindexBusyError(
            f"another reindex is running (lock {settings.data_dir / LOCK_FILE}); try again later"
        ) from None
    return lock


def _parsed_by_another_version(settings: Settings) -> bool:
    """True when the live generation was built from cases parsed by another parser version (or
    none is live): every file is then parsed again, so that new code shapes reach old cases."""
    try:
        return (
            gen.Manifest.read(gen.current_dir(settings.index_dir)).extra.get("parse_version")
            != PARSE_VERSION
        )
    except (KBError, OSError):
        return True


def run_index(
    settings: Settings, progress: Progress = None, full: bool = False, wait: float = 0
) -> IndexReport:
    """Sync the store and publish a new generation when anything changed (or ``full``)."""
    started = time.monotonic()
    lock = reindex_lock(settings, wait)
    try:
        store = open_store(settings)
    except BaseException:
        lock.release()  # a store that cannot be opened must not keep the lock while the error lives
        raise
    try:
        report = IndexReport(
            sync_store(settings, store, rehash=full, reparse=_parsed_by_another_version(settings))
        )
        if progress:
            progress(f"store: {report.sync.summary()}")
        plan = plan_build(settings, store, settings.embed_model, full=full)
        report.plan = {
            "mode": plan.mode,
            "reason": plan.reason,
            "upsert": len(plan.upsert),
            "delete": len(plan.delete),
        }
        if progress:
            progress(f"index: {plan.mode} ({plan.reason})")
        if plan.mode != "none":
            encoder = LazyEncoder(settings)
            result = build_generation(settings, store, encoder, progress, plan)
            report.generation, report.published = result.generation, True
            report.build = dict(result.__dict__)
        else:
            report.generation = gen.current_name(settings.index_dir)
        report.seconds = time.monotonic() - started
        return report
    finally:
        store.close()
        lock.release()


# -- indexing after a save (the web editor) -------------------------------------------------------

FOLLOW_UP_WAIT_S = 3600  # how long a save made during a reindex waits to index itself after it
log = logging.getLogger(__name__)


def reindex_in_background(
    settings: Settings, label: str, wait: float = FOLLOW_UP_WAIT_S
) -> threading.Thread:
    """Index in a daemon thread once the running reindex is done (it may have read the case files
    before a save); ``label`` names what is waiting (a file name) in the thread's name and the log."""

    def run() -> None:
        try:
            report = run_index(settings, wait=wait)
            log.info("indexed after the running reindex (%s): %s", label, report.summary())
        except Exception:  # a background thread has nobody to report to but the log
            log.exception(
                "could not index %s after the running reindex; the next reindex will", label
            )

    thread = threading.Thread(target=run, name=f"kb-index-after-{label}", daemon=True)
    thread.start()
    return thread


def reindex_after_save(settings: Settings, label: str, wait: float = 0) -> str:
    """Index now so a saved case is searchable at once; never raises (the file is saved whatever happens).

    Returns ``done``; ``busy`` when another reindex held the lock for ``wait`` seconds (this one
    then runs right after it, :func:`reindex_in_background`); ``failed`` when the run failed (logged:
    the next reindex picks the file up).
    """
    try:
        run_index(settings, wait=wait)
    except ReindexBusyError:
        reindex_in_background(settings, label)
        return "busy"
    except Exception:
        log.exception("%s is saved but the reindex failed", label)
        return "failed"
    return "done"
