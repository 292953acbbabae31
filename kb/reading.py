"""Reading a case file's bytes without surprises: the file's type and size are checked before a
byte is read, so a FIFO named ``*.md`` cannot block an index run (which holds the reindex lock)
and a sparse 1.5 GB file or a link to ``/dev/zero`` is never read into memory. A symbolic link
is followed only when it stays inside the cases folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kb.errors import Problem


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISDIR, "a folder"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def outside_root(path: Path, root: Path | None) -> bool:
    """Whether ``path`` is a symbolic link (itself or a folder above it) that leads out of ``root``."""
    if root is None:
        return False
    try:
        return not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root))
    except (OSError, ValueError):
        return True


def _unreadable(shown: str, exc: OSError) -> Problem:
    return Problem(shown, None, "unreadable_file", {"reason": str(exc.strerror or exc)})


def check_file(path: Path, shown: str, max_bytes: int, root: Path | None = None) -> Problem | None:
    """Why ``path`` must not be read (a problem naming the file), or None when it may be."""
    if outside_root(path, root):
        return Problem(shown, None, "link_outside_root")
    try:
        st = os.stat(path)
    except OSError as exc:
        return _unreadable(shown, exc)
    if not stat.S_ISREG(st.st_mode):
        return Problem(shown, None, "not_regular_file", {"kind": _kind(st.st_mode)})
    if st.st_size > max_bytes:
        return Problem(shown, None, "file_too_large", {"size": st.st_size, "limit": max_bytes})
    return None


def read_case_bytes(
    path: Path, shown: str, max_bytes: int, root: Path | None = None
) -> tuple[bytes | None, Problem | None]:
    """The file's bytes, or None and the problem. The type is checked again on the open file
    (opened non-blocking, so a file swapped for a FIFO after the check cannot block), and at most
    ``max_bytes + 1`` bytes are read: a file that grows meanwhile is reported as too large."""
    problem = check_file(path, shown, max_bytes, root)
    if problem is not None:
        return None, problem
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        return None, _unreadable(shown, exc)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, Problem(shown, None, "not_regular_file", {"kind": _kind(st.st_mode)})
        with os.fdopen(os.dup(fd), "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        return None, _unreadable(shown, exc)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        return None, Problem(shown, None, "file_grew_too_large", {"limit": max_bytes})
    return data, None
