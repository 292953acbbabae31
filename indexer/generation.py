"""Index generations on disk: ``index/gen-NNNNNN/`` folders, a ``CURRENT`` pointer, the manifest.

A generation is written under a ``.partial`` name, verified, renamed, and only then published by
replacing ``CURRENT`` atomically (``os.replace``). Readers keep the generation they opened until
the pointer names another one, so a crashed or failed build never touches what is being served.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import IndexNotReadyError, KBError

POINTER = "CURRENT"
MANIFEST = "manifest.json"
_GEN = re.compile(r"^gen-(\d{6})$")


@dataclass(frozen=True)
class Manifest:
    """What a generation holds and how it was built (recorded, never guessed later)."""

    generation: str
    created_at: str
    lexical_engine: str
    field_profile: str
    model: str
    dimension: int
    fusion_weights: dict[str, Any]  # {lang: {kind: {leg: weight}}} (older generations: {lang: {leg: weight}})
    rrf_k: int
    case_count: int
    chunk_count: int
    content_digest: str
    source_commit: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2, sort_keys=True)

    @classmethod
    def read(cls, folder: Path) -> "Manifest":
        try:
            data = json.loads((folder / MANIFEST).read_text("utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise KBError(f"{folder / MANIFEST}: unreadable manifest ({exc})") from exc


def generation_dirs(index_dir: Path) -> list[Path]:
    """Complete generation folders, oldest first."""
    if not index_dir.is_dir():
        return []
    return sorted(p for p in index_dir.iterdir() if p.is_dir() and _GEN.match(p.name))


def next_generation_name(index_dir: Path) -> str:
    numbers = [int(m.group(1)) for p in index_dir.glob("gen-*") if (m := re.match(r"^gen-(\d{6})", p.name))]
    return f"gen-{max(numbers, default=0) + 1:06d}"


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
    """Point ``CURRENT`` at ``name`` atomically (write a temp file, fsync, ``os.replace``)."""
    tmp = index_dir / f".{POINTER}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)


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
    removed = []
    if not index_dir.is_dir():
        return removed
    for path in index_dir.iterdir():
        if path.name.endswith(".partial") or (path.name.startswith(f".{POINTER}.") and path.name.endswith(".tmp")):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


def prune(index_dir: Path, keep: int) -> list[str]:
    """Delete the oldest complete generations beyond ``keep``, never the live one."""
    live = current_name(index_dir)
    gens = [p for p in generation_dirs(index_dir) if p.name != live]
    doomed = gens[: max(0, len(gens) - (keep - 1 if live else keep))]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in doomed]
