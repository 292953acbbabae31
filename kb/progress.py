"""Progress for long runs: a redrawn line on a terminal, plain log lines otherwise."""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

_COUNT = re.compile(r"(\d+)/(\d+)")


class Reporter:
    """Callable progress sink: ``reporter("embedded 120/400 chunks")``."""

    def __init__(
        self, stream: TextIO | None = None, tty: bool | None = None, min_interval: float = 2.0
    ):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.min_interval = min_interval
        self._last = 0.0
        self._open_line = False

    def __call__(self, message: str) -> None:
        count = _COUNT.search(message)
        if self.tty and count:
            done, total = int(count.group(1)), max(1, int(count.group(2)))
            width = 30
            filled = width * done // total
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {message}")
            self._open_line = done < total
            if not self._open_line:
                self.stream.write("\n")
            self.stream.flush()
            return
        now = time.monotonic()
        if (
            count
            and int(count.group(1)) < int(count.group(2))
            and now - self._last < self.min_interval
        ):
            return  # plain logs: not every batch, but every few seconds and the last one
        self._last = now
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.stream.write(message + "\n" if self.tty else f"{stamp} {message}\n")
        self.stream.flush()
