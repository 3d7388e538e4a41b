"""Spans on disk only: batches spilled past the memory bound, or taken over from dead processes.

A plain data structure: the ledger holds its lock around every call, and reads each batch back through the
guarded spool when memory has room. Usage::

    backlog.spill(batch_id)                 # export(): memory is full, the batch waits on disk
    backlog.adopt(batch_ids)                # after a take-over: the batches the merge brought
    batch = backlog.next()                  # memory has room: read one back
    backlog.oldest(time.monotonic())        # seconds the oldest batch has waited (how far behind the intake is)
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable


class Backlog:
    """Batch ids in first-in, first-out order; once one batch spills, later ones follow it (no overtaking)."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[int, float]] = deque()  # (batch id, since when it waits: monotonic)

    def __len__(self) -> int:
        return len(self._waiting)

    def spill(self, batch: int) -> None:
        self._waiting.append((batch, time.monotonic()))

    def adopt(self, batch_ids: Iterable[int]) -> None:
        """Queue the batches a take-over merged into this process's file."""
        now = time.monotonic()
        self._waiting.extend((batch, now) for batch in batch_ids)

    def next(self) -> int | None:
        return self._waiting.popleft()[0] if self._waiting else None

    def oldest(self, now: float) -> float:
        """Seconds the oldest batch has waited on disk (0 when none waits)."""
        return now - self._waiting[0][1] if self._waiting else 0.0

    def forget(self) -> int:
        """The spool is gone: these batches stay on disk for the next start. Returns how many."""
        count = len(self._waiting)
        self._waiting.clear()
        return count
