"""Reusing the live generation's vector index: linked when a build would write the same one,
extended in place when it is an HNSW graph that only gains and loses a few rows.

A full build that changes only the lexical side (another engine, field profile or parse version,
a nightly ``--full``) would otherwise fetch every vector from the embedding cache and rebuild the
approximate-search graph: about four minutes at 100,000 cases. The vector index is a function of
the model, the index kind and storage, and the chunks' texts in order; when that key equals the
live generation's, its files are linked into the new generation instead (generations are never
written after they are published, so sharing their files is safe).

An incremental build at that size would also build the whole graph again for one edited case.
Instead the live graph is copied, the new chunks' vectors are added to it, and the rows of
chunks that are gone are *removed*: kept in the graph (HNSW cannot delete) but marked in the row
map so that search never returns them. Once removed rows pass :data:`MAX_REMOVED` of the graph,
the next build writes it afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from indexer.dense import VectorIndex

KEY_VERSION = "1"  # bump when the vector index's layout or construction changes
CHUNKS_FILE = "chunks.json"  # each vector row's case and section, read by the searcher


def vector_key(
    model: str,
    chunks: Sequence[tuple[str, str, str, str]],
    ann_threshold: int,
    ann_storage: str,
) -> str:
    """What the vector index written for ``chunks`` depends on: (case, section, text hash) in order,
    the model, and how the index is built (exact, or HNSW with its storage and parameters)."""
    digest = hashlib.sha256()
    how = index_how(len(chunks), ann_threshold, ann_storage)
    digest.update(f"{KEY_VERSION}\n{model}\n{how}\n".encode())
    for case_id, section, _, text_hash in chunks:
        digest.update(f"{case_id}\t{section}\t{text_hash}\n".encode())
    return digest.hexdigest()


def link_files(source: Path, target: Path, names: Sequence[str]) -> bool:
    """Hard-link (else copy) ``names`` from ``source`` into ``target``; False, with nothing left
    behind, when one of them is missing."""
    if not all((source / name).is_file() for name in names):
        return False
    done: list[Path] = []
    try:
        for name in names:
            try:
                os.link(source / name, target / name)
            except OSError:  # another file system, or links not allowed: a copy
                shutil.copyfile(source / name, target / name)
            done.append(target / name)
    except OSError:
        for path in done:
            path.unlink(missing_ok=True)
        return False
    return True


# -- appending to the live HNSW graph --------------------------------------------------------------

HASHES_FILE = (
    "chunk-hashes.txt"  # each vector row's (case, section, text hash); empty: a removed row
)
MAX_REMOVED = 0.2  # above this share of removed rows a build writes the graph afresh

Row = tuple[str, str, str]  # (case id, section, text hash)


def index_how(chunk_count: int, ann_threshold: int, ann_storage: str) -> str:
    """How a vector index of ``chunk_count`` rows is built: ``flat``, or HNSW with its storage and
    parameters (a graph can only be extended by a build that would build it the same way)."""
    if chunk_count >= ann_threshold:
        return f"hnsw:{ann_storage}:{VectorIndex.HNSW_M}:{VectorIndex.HNSW_EF_CONSTRUCTION}"
    return "flat"


@dataclass
class AppendPlan:
    """The rows of a graph extended in place: the live rows still wanted keep their place, the
    others are removed (never returned again), and the new chunks are appended."""

    rows: list[Row | None]  # the new generation's rows in order; None: removed
    append: list[int]  # positions in the new chunk list whose vectors are added, in row order

    @property
    def removed(self) -> int:
        return sum(1 for r in self.rows if r is None)


def plan_append(
    live_rows: Sequence[Row | None], chunks: Sequence[tuple[str, str, str, str]]
) -> AppendPlan:
    """Match the new chunks to the live rows by (case, section, text hash); pure."""
    free: dict[Row, deque[int]] = defaultdict(deque)
    for row, identity in enumerate(live_rows):
        if identity is not None:
            free[identity].append(row)
    rows: list[Row | None] = [None] * len(live_rows)
    append: list[int] = []
    for n, (case_id, section, _, text_hash) in enumerate(chunks):
        identity = (case_id, section, text_hash)
        if free.get(identity):
            rows[free[identity].popleft()] = identity
        else:
            append.append(n)
    rows += [(chunks[n][0], chunks[n][1], chunks[n][3]) for n in append]
    return AppendPlan(rows, append)


def read_rows(folder: Path) -> list[Row | None]:
    """A generation's row identities (:data:`HASHES_FILE`); raises OSError/ValueError when unreadable."""
    rows: list[Row | None] = []
    for line in (folder / HASHES_FILE).read_text("utf-8").splitlines():
        parts = line.split("\t")
        if parts == [""]:
            rows.append(None)
        elif len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
        else:
            raise ValueError(f"{folder / HASHES_FILE}: bad row {line!r}")
    return rows


def write_rows(folder: Path, rows: Sequence[Row | None], hashes: bool = True) -> None:
    """The searcher's row map (a removed row: an empty case id) and, with ``hashes``, the row
    identities a later build extends the graph by."""
    if hashes:
        (folder / HASHES_FILE).write_text(
            "".join("\t".join(r) + "\n" if r is not None else "\n" for r in rows), "utf-8"
        )
    chunk_map = [
        {"case_id": r[0], "section": r[1]} if r is not None else {"case_id": "", "section": ""}
        for r in rows
    ]
    (folder / CHUNKS_FILE).write_text(json.dumps(chunk_map, ensure_ascii=False), "utf-8")
