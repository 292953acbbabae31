"""The index job: sync the store from the case files, then publish a new generation if needed.

One run at a time (a lock in the data folder; the OS releases it when a process dies, so a
killed run never leaves a stale lock behind).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from filelock import FileLock, Timeout

from kb.errors import Problem, ReindexBusyError
from kb.settings import Settings
from kb.store import Store
from kb.sync import SyncReport, sync_store

Progress = Callable[[str], None] | None
LOCK_FILE = "reindex.lock"


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

    def summary(self) -> str:
        state = f"published {self.generation}" if self.published else f"index unchanged ({self.generation or 'none'})"
        return f"{self.sync.summary()}; {state}; {self.seconds:.2f}s"


def open_store(settings: Settings) -> Store:
    """The store named by the settings, migrated to the current schema (activity tables included).

    Migrations run under a lock in the data folder, so several processes starting at once on one
    host do not race; on several hosts run ``kb db upgrade`` once at deploy time.
    """
    import kb.accounts  # noqa: F401  (registers the account and audit tables)
    import kb.activity  # noqa: F401  (registers the search-log and feedback tables)
    from kb.migrate import migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.data_dir / "migrate.lock"), timeout=120):
        migrate(settings.resolved_database_url)
    return Store(settings.resolved_database_url, settings.db_pool_size, settings.db_max_overflow)


def reindex_lock(settings: Settings, wait: float = 0) -> FileLock:
    """Acquire the data folder's reindex lock or raise :class:`ReindexBusyError`."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / LOCK_FILE))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise ReindexBusyError(f"another reindex is running (lock {settings.data_dir / LOCK_FILE}); try again later") from None
    return lock


def run_index(settings: Settings, progress: Progress = None, full: bool = False, wait: float = 0) -> IndexReport:
    """Sync the store and publish a new generation when anything changed (or ``full``)."""
    from indexer import generation as gen

    started = time.monotonic()
    lock = reindex_lock(settings, wait)
    store = open_store(settings)
    try:
        report = IndexReport(sync_store(settings, store, rehash=full))
        if progress:
            progress(f"store: {report.sync.summary()}")
        from indexer.builder import build_generation, plan_build

        plan = plan_build(settings, store, settings.embed_model, full=full)
        report.plan = {"mode": plan.mode, "reason": plan.reason, "upsert": len(plan.upsert), "delete": len(plan.delete)}
        if progress:
            progress(f"index: {plan.mode} ({plan.reason})")
        if plan.mode != "none":
            from indexer.dense import LazyEncoder

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
