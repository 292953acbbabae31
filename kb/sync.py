"""Bring the store in line with the case files: changed files updated, deleted ones removed.

A file whose size and modification time match the last sync is not read again (like git's
index: a file written within :data:`RACY_NS` of a scan is re-hashed next time, as a later write
in the same clock tick would not change its time); a file whose content hash is unchanged is not
parsed again; a bad file is reported and skipped, and the last good version of its case stays in
the store (nothing is lost). ``rehash`` reads every file whatever its time says.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.case import Case
from kb.corpus import find_case_files
from kb.errors import Problem
from kb.parallel import cores, ordered_map
from kb.parse import check_case_text, decode_case_bytes
from kb.reading import read_case_bytes
from kb.settings import Settings
from kb.store import FileState, Store

RACY_NS = 2_000_000_000  # file systems with coarse timestamps tick at most every 2 s (FAT)


@dataclass
class SyncReport:
    """What a sync did, by case id and by file."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        return bool(self.added or self.changed or self.deleted)

    @property
    def error_count(self) -> int:
        return sum(1 for p in self.problems if p.is_error)

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.deleted)} deleted, "
            f"{self.unchanged} unchanged, {len(self.failed)} failed"
        )


def _problem_from_dict(data: dict[str, object]) -> Problem:
    return Problem.from_dict(data)


def _relative(path: Path, root_prefix: str, root: Path) -> str:
    text = str(path)
    if text.startswith(root_prefix):  # the common case, without pathlib's parsing (100,000 files)
        return text[len(root_prefix) :].replace(os.sep, "/")
    return path.relative_to(root).as_posix()


def _unchanged_on_disk(state: FileState | None, st: os.stat_result | None) -> bool:
    return (
        state is not None
        and st is not None
        and state.mtime_ns is not None
        and state.size == st.st_size
        and state.mtime_ns == st.st_mtime_ns
    )


def _trusted_stat(st: os.stat_result, scan_started_ns: int) -> tuple[int | None, int | None]:
    """(size, mtime) to remember, or (None, None) when the file changed too close to the scan to trust it."""
    if st.st_mtime_ns >= scan_started_ns - RACY_NS:
        return None, None
    return st.st_size, st.st_mtime_ns


def _parse_file(
    path: Path, shown: str, data: bytes, settings: Settings, digest: str
) -> tuple[Case | None, list[Problem]]:
    text, problems = decode_case_bytes(data, shown, settings.max_case_bytes)
    if text is None:
        return None, problems
    return check_case_text(
        text,
        shown,
        settings.id_regex,
        digest,
        expected_id=path.stem,
        customer_domains=settings.customer_domain_list,
    )


def _is_duplicate(case: Case, rel: str, owners: dict[str, str], present: set[str]) -> str | None:
    """The other file that already holds this id, if it still exists."""
    owner = owners.get(case.id)
    return owner if owner is not None and owner != rel and owner in present else None


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except OSError:
        return None  # reading it will report why


def _report_unchanged(report: SyncReport, state: FileState, shown: str) -> None:
    report.unchanged += 1
    report.problems += [_problem_from_dict(p) for p in state.problems]
    if not state.ok:
        report.failed.append(shown)


BATCH = 500  # files per multi-row write and transaction
PARALLEL_FILES = 2000  # from this many files to read, they are read and parsed in worker processes
Job = tuple[
    Path, str, "str | None", "os.stat_result | None"
]  # path, shown path, known content hash, stat
Loaded = tuple[
    "Problem | None", str, bool, "Case | None", list[Problem]
]  # unreadable, digest, same as known, case, problems


def _load(settings: Settings, root: Path, job: Job) -> Loaded:
    """Read, hash and parse one file: (the problem that made it unreadable, digest, whether the
    digest is the known one, case, problems); a file with the known digest is not parsed."""
    path, shown, known, _ = job
    data, problem = read_case_bytes(path, shown, settings.max_case_bytes, root)
    if data is None:
        return problem, "", False, None, []
    digest = hashlib.sha256(data).hexdigest()
    if known == digest:
        return None, digest, True, None, []
    case, problems = _parse_file(path, shown, data, settings, digest)
    return None, digest, False, case, problems


_WORKER: dict[str, Settings] = {}  # the settings of this worker process


def _worker_init(settings: Settings) -> None:
    _WORKER["settings"] = settings


def _worker_load(jobs: list[Job]) -> list[Loaded]:
    settings = _WORKER["settings"]
    return [_load(settings, settings.cases_dir, job) for job in jobs]


WORKER_CHUNK = 64  # files per task sent to a worker process


def _loaded(settings: Settings, jobs: list[Job]) -> Iterator[Loaded]:
    """Each job's result, in order: in this process for a few files; from this many on, in one worker
    process per core (reading, hashing and parsing are most of a large load), while this process
    writes the results to the store as they come."""
    workers = cores()
    if len(jobs) < PARALLEL_FILES or workers < 2:
        yield from (_load(settings, settings.cases_dir, job) for job in jobs)
        return
    tasks = (jobs[start : start + WORKER_CHUNK] for start in range(0, len(jobs), WORKER_CHUNK))
    for done in ordered_map(_worker_load, tasks, workers, _worker_init, (settings,)):
        yield from done


class _Batch:
    """Cases and file states waiting to be written together (one transaction per :data:`BATCH` files)."""

    def __init__(self, store: Store):
        self.store = store
        self.cases: list[Case] = []
        self.states: list[FileState] = []

    def case(self, conn: object, case: Case) -> None:
        self.cases.append(case)

    def state(self, conn: object, state: FileState) -> None:
        self.states.append(state)

    def between_files(self, conn: object) -> None:
        """Write the batch when it is full: only between two files, so that a file's state and its
        case always reach the store in one transaction."""
        if len(self.states) >= BATCH:
            self.flush(conn)

    def flush(self, conn: Any) -> None:
        self.store.write_file_states_bulk(conn, self.states)
        self.store.write_cases_bulk(conn, self.cases)
        conn.commit()
        self.cases, self.states = [], []


def sync_store(
    settings: Settings, store: Store, rehash: bool = False, reparse: bool = False
) -> SyncReport:
    """Load new and changed case files into the store and remove deleted ones (``rehash``: read
    every file; ``reparse``: parse every file again, as after an upgrade of the parser)."""
    root = settings.cases_dir
    report = SyncReport()
    if not root.is_dir():
        report.problems.append(Problem(str(root), None, "cases_dir_missing"))
        return report
    scan_started_ns = time.time_ns()
    files, report.problems = find_case_files(root)
    prefix = str(root) + os.sep if str(root) not in ("", ".") else ""
    relative = {f: _relative(f, prefix, root) for f in files}
    present = set(relative.values())
    states = store.file_states()
    owners = {s.case_id: p for p, s in states.items() if s.case_id and p in present}
    jobs = []
    for path in files:
        rel = relative[path]
        state = states.get(rel)
        st = _stat(path)
        if not (rehash or reparse) and state is not None and _unchanged_on_disk(state, st):
            _report_unchanged(report, state, str(root / rel))
            continue
        jobs.append(
            (
                path,
                str(root / rel),
                state.content_hash if state is not None and not reparse else None,
                st,
            )
        )
    batch = _Batch(store)
    with store.bulk_connection() as conn:
        for (path, shown, _, st), (data_error, digest, same, case, problems) in zip(
            jobs, _loaded(settings, jobs)
        ):
            batch.between_files(conn)
            rel = relative[path]
            state = states.get(rel)
            if data_error is not None:
                report.problems.append(data_error)
                report.failed.append(shown)
                continue
            size, mtime_ns = _trusted_stat(st, scan_started_ns) if st is not None else (None, None)
            if state is not None and same:  # read, same content as last time
                _report_unchanged(report, state, shown)
                if (size, mtime_ns) != (
                    state.size,
                    state.mtime_ns,
                ):  # touched, not changed: remember the new time
                    batch.state(
                        conn,
                        FileState(rel, digest, state.case_id, True, state.problems, size, mtime_ns),
                    )
                continue
            other = _is_duplicate(case, rel, owners, present) if case else None
            if other and case is not None:
                problems.append(
                    Problem(
                        shown, 2, "duplicate_id", {"id": case.id, "other": str(root / other)}, "id"
                    )
                )
                case = None
            report.problems += problems
            old_id = state.case_id if state else None
            batch.state(
                conn,
                FileState(
                    rel,
                    digest,
                    case.id if case else old_id,
                    True,
                    [p.to_dict() for p in problems],
                    size,
                    mtime_ns,
                ),
            )
            if case is None:
                report.failed.append(shown)
                continue
            if old_id and old_id != case.id and owners.get(old_id) == rel:
                batch.flush(conn)
                store.delete_cases_bulk(conn, [old_id])
                owners.pop(old_id)
                report.deleted.append(old_id)
            (report.changed if old_id == case.id else report.added).append(case.id)
            owners[case.id] = rel
            batch.case(conn, dataclasses.replace(case, path=rel))
        batch.flush(conn)
        gone = [p for p in states if p not in present]
        gone_ids = [i for i in (states[p].case_id for p in gone) if i and i not in owners]
        store.delete_cases_bulk(conn, gone_ids)
        store.delete_file_states_bulk(conn, gone)
        report.deleted += gone_ids
    return report
