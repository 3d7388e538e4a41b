"""The exporter's counters.

Usage::

    stats = ExportStats(telemetry)
    stats.add("spans_written", 12)      # also feeds the counter otel_mlflow.export.exporter.spans{outcome}
    snapshot = stats.copy()
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from otel_mlflow.export.selftelemetry import SelfTelemetry



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
    spans_dropped_late: int = 0
    """Spans of a served request that ended after its window's closing write (no run to join; never an extra run)."""
    spans_joined_late: int = 0
    """Spans of a served request that ended after its record was made and joined it (tokens, errors)."""
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
