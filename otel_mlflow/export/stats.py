"""The exporter's counters and its rate-limited warnings.

Usage::

    stats = ExportStats(telemetry)
    stats.add("spans_written", 12)      # also feeds the counter otel_mlflow.export.exporter.spans{outcome}
    snapshot = stats.copy()
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from typing import Any

from otel_mlflow.export.selftelemetry import SelfTelemetry

_logger = logging.getLogger("otel_mlflow.export.exporter")
WARN_EVERY_SECONDS = 60.0


@dataclass
class ExportStats:
    """Counters since the exporter started. Read a copy with :attr:`MLflowSpanExporter.stats`."""

    telemetry: SelfTelemetry | None = field(default=None, repr=False, compare=False)
    spans_received: int = 0
    spans_written: int = 0
    spans_spilled: int = 0
    """Accepted while memory was full: kept on disk only, read back later (not a loss)."""
    spans_dropped_queue_full: int = 0
    spans_dropped_write_failed: int = 0
    spans_dropped_mapping_failed: int = 0
    runs_created: int = 0
    writes_retried: int = 0
    metrics_dropped_non_finite: int = 0
    spool_errors: int = 0
    spool_files_taken_over: int = 0

    def add(self, name: str, n: int) -> None:
        """Add ``n`` to the counter ``name`` (a field of this class)."""
        if not n:
            return
        setattr(self, name, getattr(self, name) + n)
        if self.telemetry is not None and name.startswith("spans_"):
            self.telemetry.add(name, n)

    def copy(self) -> ExportStats:
        return ExportStats(None, **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "telemetry"})


class Warnings:
    """At most one warning per kind per minute: a store that stays down must not flood the app's log."""

    def __init__(self, every: float = WARN_EVERY_SECONDS) -> None:
        self._every = every
        self._at: dict[str, float] = {}

    def warn(self, kind: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._at.get(kind)
        if last is None or now - last >= self._every:
            self._at[kind] = now
            _logger.warning(message, *args)
