"""Reusing the live generation's vector index when a build would write the same one.

A full build that changes only the lexical side (another engine, field profile or parse version,
a nightly ``--full``) would otherwise fetch every vector from the embedding cache and rebuild the
approximate-search graph: about four minutes at 100,000 cases. The vector index is a function of
the model, the index kind and storage, and the chunks' texts in order; when that key equals the
live generation's, its files are linked into the new generation instead (generations are never
written after they are published, so sharing their files is safe).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from indexer.dense import VectorIndex

KEY_VERSION = "1"  # bump when the vector index's layout or construction changes


def vector_key(
    model: str,
    chunks: Sequence[tuple[str, str, str, str]],
    ann_threshold: int,
    ann_storage: str,
) -> str:
    """What the vector index written for ``chunks`` depends on: (case, section, text hash) in order,
    the model, and how the index is built (exact, or HNSW with its storage and parameters)."""
    digest = hashlib.sha256()
    if len(chunks) >= ann_threshold:
        how = f"hnsw:{ann_storage}:{VectorIndex.HNSW_M}:{VectorIndex.HNSW_EF_CONSTRUCTION}"
    else:
        how = "flat"
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
