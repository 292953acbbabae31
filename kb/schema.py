"""The store's schema revision, read without Alembic.

A one-shot command that only reads (``kb search``, ``kb similar``) opens the store as it is when
the store already stands at the code's newest migration: importing Alembic to find that out
costs more than the rest of such a command's start-up (about 0.15 s of 1). Anything else — no
store yet, an older revision, a revision the code does not know — goes through
:func:`kb.migrate.open_store`, which migrates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def code_head(folder: Path = VERSIONS) -> str | None:
    """The newest revision of the migration scripts in ``folder``: the one no other script revises.
    None when that is not a single revision (branches, no scripts): callers then ask Alembic."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for script in folder.glob("*.py"):
        values = {
            key: _QUOTED.findall(value)
            for key, value in _ASSIGNMENT.findall(script.read_text("utf-8"))
        }
        if len(values.get("revision", [])) != 1:
            return None  # a script this reader does not understand: let Alembic decide
        revisions.update(values["revision"])
        revised.update(values.get("down_revision", []))
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def store_revision(engine: Any) -> str | None:
    """The revision stamped in the store (Alembic's one-row table), None without one."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as connection:
            rows = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            )
    except SQLAlchemyError:
        return None  # no such table: a new or an early store
    return rows[0] if len(rows) == 1 else None


def is_current(engine: Any) -> bool:
    """Whether the store behind ``engine`` is at the code's newest schema revision."""
    head = code_head()
    return head is not None and store_revision(engine) == head
