"""A spinner on a terminal while a command waits, shown only once the wait passes a second."""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TextIO

FRAMES = "|/-\\"
DELAY = 1.0  # seconds of waiting before the spinner appears: a quick answer shows none
INTERVAL = 0.1


class Spinner:
    """Context manager: after ``delay`` seconds inside the block, redraw ``message`` with a turning
    frame on ``stream`` (standard error) until the block ends, then clear the line. Nothing is
    written unless the stream is a terminal, so piped output and ``--json`` stay clean."""

    def __init__(
        self,
        message: str,
        stream: TextIO | None = None,
        delay: float | None = None,
        interval: float = INTERVAL,
        tty: bool | None = None,
    ):
        self.message = message
        self.stream = stream if stream is not None else sys.stderr
        self.delay, self.interval = DELAY if delay is None else delay, interval
        self.enabled = _is_terminal(self.stream) if tty is None else tty
        self.shown = False  # whether a frame was drawn
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, name="kb-spinner", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._write_lock:
            if (
                self.shown
            ):  # leave the line as it was: the answer is printed where the spinner stood
                self._write("\r" + " " * (len(self.message) + 2) + "\r")

    def _spin(self) -> None:
        if self._stop.wait(self.delay):
            return
        n = 0
        while True:
            with self._write_lock:
                if self._stop.is_set():
                    return
                self._write(f"\r{FRAMES[n % len(FRAMES)]} {self.message}")
                self.shown = True
            n += 1
            if self._stop.wait(self.interval):
                return

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (
            OSError,
            ValueError,
        ):  # a closed or broken terminal: the wait goes on without a spinner
            self._stop.set()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
