"""Spans on disk only: batches spilled past the memory bound, or taken over from dead processes.

Usage (the ledger holds one, under its lock)::

    backlog.spill(batch_id)                 # export(): memory is full, the batch waits on disk
    backlog.adopt(batch_ids)                # after a take-over: the batches the merge brought
    batch = backlog.next()                  # memory has room: read one back
    spans, lost = read_batch(spool, batch)  # the spans still unwritten, each with its spool ref
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.export.codec import decode_batch
from otel_mlflow.export.spool import SpanRef, SpoolFile
from otel_mlflow.scrub import get_logger

_logger = get_logger(LOGGER_NAME)


class Backlog:
    """Batch ids in first-in, first-out order; once one batch spills, later ones follow it (no overtaking)."""

    def __init__(self) -> None:
        self._waiting: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._waiting)

    def spill(self, batch: int) -> None:
        self._waiting.append(batch)

    def adopt(self, batch_ids: Iterable[int]) -> None:
        """Queue the batches a take-over merged into this process's file."""
        self._waiting.extend(batch_ids)

    def next(self) -> int | None:
        return self._waiting.popleft() if self._waiting else None

    def forget(self) -> int:
        """The spool is gone: these batches stay on disk for the next start. Returns how many."""
        count = len(self._waiting)
        self._waiting.clear()
        return count


def read_batch(spool: SpoolFile, batch: int,
               held: bool = False) -> tuple[list[tuple[ReadableSpan, SpanRef]], list[SpanRef]]:  # fmt: skip
    """The batch's spans not yet written (with ``held``: those window records hold), with their refs; and the refs
    of spans that cannot be rebuilt."""
    blob, present = spool.load(batch, held)
    try:
        decoded = decode_batch(blob) if blob else []
    except Exception:  # noqa: BLE001 - a damaged entry must not stop the others
        _logger.exception("otel-mlflow could not read spool entry %d; its spans are dropped", batch)
        decoded = []
    spans, lost = [], []
    for pos in sorted(present):
        span = decoded[pos] if pos < len(decoded) else None
        if span is None:
            lost.append((batch, pos))
        else:
            spans.append((span, (batch, pos)))
    return spans, lost
