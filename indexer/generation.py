"""Index generations on disk: ``index/gen-NNNNNN/`` folders, a ``CURRENT`` pointer, the manifest.

A generation is written under a ``.partial`` name, verified, renamed, and only then published by
replacing ``CURRENT`` atomically (``os.replace``). Readers keep the generation they opened until
the pointer names another one, so a crashed or failed build never touches what is being served.

Names never repeat: ``gen-<number>-<random>``, the number from a counter that survives deleted
folders, so a reader that compares names always sees a new publish as a new generation. A
generation that stops being live is marked ``RETIRED`` and deleted only after a grace period
(``generation_grace_seconds``): a search that opened it just before the switch finishes on files
that still exist, in every process that reads the index.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import IndexNotReadyError, KBError

POINTER = "CURRENT"
MANIFEST = "manifest.json"
COUNTER = ".generation-counter"
RETIRED = "RETIRED"
_GEN = re.compile(r"^gen-(\d{6,})(?:-[0-9a-f]{8})?$")  # older generations have no random part


@dataclass(frozen=True)
class Manifest:
    """What a generation holds and how it was built (recorded, never guessed later)."""

    generation: str
    created_at: str
    lexical_engine: str
    field_profile: str
    model: str
    dimension: int
    fusion_weights: dict[
        str, Any
    ]  # {lang: {kind: {leg: weight}}} (older generations: {lang: {leg: weight}})
    rrf_k: int
    case_count: int
    chunk_count: int
    content_digest: str
    source_commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        try:
            data = json.loads((folder / MANIFEST).read_text("utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise KBError(f"{folder / MANIFEST}: unreadable manifest ({exc})") from exc


def generation_dirs(index_dir: Path) -> list[Path]:
    """Complete generation folders, oldest first."""
    if not index_dir.is_dir():
        return []
    return sorted(
        (p for p in index_dir.iterdir() if p.is_dir() and _GEN.match(p.name)),
        key=lambda p: _generation_number(p.name),
    )


def _generation_number(name: str) -> int:
    m = re.match(r"^gen-(\d{6,})", name)
    return int(m.group(1)) if m else 0


def _counter(index_dir: Path) -> int:
    try:
        return int((index_dir / COUNTER).read_text("utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


def next_generation_name(index_dir: Path) -> str:
    """A name no generation of this index ever had: the next number (above every folder and the
    counter, which remembers numbers whose folders were deleted) and a random part."""
    number = (
        max([_counter(index_dir), *(_generation_number(p.name) for p in index_dir.glob("gen-*"))])
        + 1
    )
    tmp = index_dir / f"{COUNTER}.{os.getpid()}.tmp"
    tmp.write_text(f"{number}\n", "utf-8")
    os.replace(tmp, index_dir / COUNTER)
    return f"gen-{number:06d}-{secrets.token_hex(4)}"


def current_name(index_dir: Path) -> str | None:
    """The live generation's name, or None when nothing was published yet."""
    try:
        name = (index_dir / POINTER).read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    return name if _GEN.match(name) else None


def current_dir(index_dir: Path) -> Path:
    """The live generation's folder; raises :class:`IndexNotReadyError` when there is none."""
    name = current_name(index_dir)
    if name is None or not (index_dir / name).is_dir():
        raise IndexNotReadyError("no index has been built yet: run 'kb index'")
    return index_dir / name


def publish(index_dir: Path, name: str) -> None:
    """Point ``CURRENT`` at ``name`` atomically (write a temp file, fsync, ``os.replace``); the
    generation it replaces is marked retired, which starts its grace period."""
    previous = current_name(index_dir)
    tmp = index_dir / f".{POINTER}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)
    if previous and previous != name and (index_dir / previous).is_dir():
        try:
            (index_dir / previous / RETIRED).write_text(f"{time.time():.3f}\n", "utf-8")
        except OSError:
            pass  # prune then counts the grace period from the pointer's own change


def retired_at(index_dir: Path, folder: Path) -> float:
    """When ``folder`` stopped being live: its ``RETIRED`` mark, or at the latest the pointer's
    last change (generations retired before marks existed)."""
    for path in (folder / RETIRED, index_dir / POINTER):
        try:
            return path.stat().st_mtime
        except OSError:
            continue
    return 0.0


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def finish_partial(index_dir: Path, partial: Path, name: str) -> Path:
    final = index_dir / name
    os.replace(partial, final)
    _fsync_dir(index_dir)
    return final


def clean_partials(index_dir: Path) -> list[str]:
    """Remove leftovers of crashed builds (``*.partial`` folders and temp pointers)."""
    removed: list[str] = []
    if not index_dir.is_dir():
        return removed
    for path in index_dir.iterdir():
        temp = path.name.endswith(".tmp") and path.name.startswith((f".{POINTER}.", f"{COUNTER}."))
        if path.name.endswith(".partial") or temp:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(
                missing_ok=True
            )
            removed.append(path.name)
    return removed


def prune(
    index_dir: Path, keep: int, grace_seconds: float = 0, now: float | None = None
) -> list[str]:
    """Delete the oldest complete generations beyond ``keep``, never the live one, and none that
    stopped being live less than ``grace_seconds`` ago (a reader may still be searching it)."""
    live = current_name(index_dir)
    gens = [p for p in generation_dirs(index_dir) if p.name != live]
    now = time.time() if now is None else now
    doomed = [
        p
        for p in gens[: max(0, len(gens) - (keep - 1 if live else keep))]
        if now - retired_at(index_dir, p) >= grace_seconds
    ]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in doomed]
