"""The exporter's counters, and the same counts as OpenTelemetry metrics for whoever collects the app's metrics.

Usage::

    stats = ExportStats(SelfTelemetry(meter_provider))
    stats.add("spans_written", 12)      # also the counter otel_mlflow.export.exporter.spans{outcome="written"}
    snapshot = stats.copy()

``otel_mlflow.export.exporter.spans`` (a counter of spans) has the attribute ``outcome``, one per ``spans_*``
counter: ``received``, ``written``, ``spilled``, ``dropped_queue_full``, ``dropped_write_failed``,
``dropped_mapping_failed``, ``dropped_late``, ``dropped_feedback``, ``joined_late``. Gauges say how far behind
MLflow is (:meth:`SelfTelemetry.observe`): ``otel_mlflow.export.runs.lag`` (s), ``otel_mlflow.export.traces.waiting``,
``otel_mlflow.export.traces.backlog`` (s) and ``otel_mlflow.export.traces.sampled_out``. With no MeterProvider
configured (the distro's default ``OTEL_METRICS_EXPORTER=none``), it costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

METER_NAME = "otel_mlflow"
SPANS_COUNTER = "otel_mlflow.export.exporter.spans"
LAG_GAUGES = (
    ("otel_mlflow.export.runs.lag", "runs_seconds", "s"),
    ("otel_mlflow.export.traces.waiting", "traces_waiting", "{trace}"),
    ("otel_mlflow.export.traces.backlog", "traces_backlog_seconds", "s"),
    ("otel_mlflow.export.traces.sampled_out", "traces_sampled_out", "{trace}"),
)


class SelfTelemetry:
    def __init__(self, meter_provider: Any = None) -> None:
        meter = self._meter = metrics.get_meter(METER_NAME, meter_provider=meter_provider)
        self._spans = meter.create_counter(SPANS_COUNTER, unit="{span}", description="spans by outcome")

    def observe(self, lag: Callable[[], Any]) -> None:
        """Gauges read from ``lag()`` (a :class:`otel_mlflow.export.pending.lanes.Lag`) when metrics are collected."""
        for name, field_name, unit in LAG_GAUGES:

            def read(_options: CallbackOptions, field_name: str = field_name) -> Iterable[Observation]:
                return [Observation(getattr(lag(), field_name))]

            self._meter.create_observable_gauge(name, callbacks=[read], unit=unit)

    def add(self, stat_name: str, n: int) -> None:
        """Count ``n`` spans under the ExportStats field ``stat_name`` (``spans_written`` -> ``written``)."""
        self._spans.add(n, {"outcome": stat_name.removeprefix("spans_")})


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
    spans_dropped_feedback: int = 0
    """Feedback for traces not in MLflow, past the feedback already waiting for theirs (a bound: it can be posted by
    anyone who reaches an app's feedback route)."""
    spans_joined_late: int = 0
    """Spans of a served request that ended after its record was made and joined it (tokens, errors)."""
    log_events_joined: int = 0
    """GenAI events sent as log records, folded into their span (each was spooled as an event span)."""
    log_events_orphaned: int = 0
    """GenAI events whose span never came (or came after its trace was written): not written."""
    message_refs_read: int = 0
    """Message refs (``gen_ai.input.messages_ref``...) read into their span (``OTEL_MLFLOW_MESSAGE_REFS``)."""
    message_refs_unread: int = 0
    """Message refs not allowed, missing or unreadable: kept as links."""
    runs_created: int = 0
    traces_written: int = 0
    """Trace-lane writes that stored MLflow traces (a window's requests, or a trace's run)."""
    traces_dropped_write_failed: int = 0
    writes_retried: int = 0
    metrics_dropped_non_finite: int = 0
    spool_errors: int = 0
    spool_files_taken_over: int = 0

    def add(self, name: str, n: int) -> None:
        """Add ``n`` to the counter ``name`` (a field of this class); ``spans_*`` counters also feed the metric."""
        if not n:
            return
        setattr(self, name, getattr(self, name) + n)
        if self.telemetry is not None and name.startswith("spans_"):
            self.telemetry.add(name, n)

    def add_all(self, counts: dict[str, int]) -> None:
        for name, n in counts.items():
            self.add(name, n)

    def copy(self) -> ExportStats:
        return ExportStats(None, **{f.name: getattr(self, f.name) for f in fields(self) if f.name != "telemetry"})


def span_outcomes() -> list[str]:
    """Every ``outcome`` the spans counter may carry (one per ``spans_*`` counter)."""
    return [f.name.removeprefix("spans_") for f in fields(ExportStats) if f.name.startswith("spans_")]
