"""A progress line on stderr while exit waits for MLflow (only when that takes more than ~2 s).

Usage::

    progress = ProgressLine()
    progress.show(left=1200, elapsed=3.1)     # "otel-mlflow: writing to MLflow: 1,200 left, 210/s, ~6 s to go"
    progress.finish(left=0)

On a terminal the line updates in place; elsewhere (a log file, CI) one line every 5 seconds.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

SHOW_AFTER_SECONDS = 2.0
PLAIN_EVERY_SECONDS = 5.0


class ProgressLine:
    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._first_left: int | None = None
        self._shown_at = 0.0
        self._shown = False

    def show(self, left: int, elapsed: float) -> None:
        if self._first_left is None:
            self._first_left = left
        if elapsed < SHOW_AFTER_SECONDS:
            return
        now = time.monotonic()
        if not self._tty and self._shown and now - self._shown_at < PLAIN_EVERY_SECONDS:
            return
        self._shown_at, self._shown = now, True
        rate = max(0, self._first_left - left) / elapsed
        eta = f"~{left / rate:,.0f} s to go" if rate > 0 else "waiting for MLflow"
        self._write(f"otel-mlflow: writing to MLflow before exit: {left:,} left, {rate:,.0f}/s, {eta}")

    def finish(self, left: int) -> None:
        if not self._shown:
            return
        self._write(f"otel-mlflow: {'done' if left == 0 else f'{left:,} left'}", end="\n")

    def _write(self, text: str, end: str = "") -> None:
        try:
            if self._tty:
                self._stream.write(f"\r\033[K{text}{end}")
            else:
                self._stream.write(f"{text}\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed stderr must not stop the exit
            pass
