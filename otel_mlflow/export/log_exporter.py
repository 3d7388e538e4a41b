"""``OTEL_LOGS_EXPORTER=mlflow``: GenAI events an app sends through the OpenTelemetry Logs API (the GenAI
instrumentations' ``event_only`` mode) go with its spans to MLflow.

Each record that is a GenAI event of a span becomes an event span (:mod:`otel_mlflow.mapping.log_events`) handed to
the process's :class:`~otel_mlflow.export.exporter.MLflowSpanExporter` (the one ``OTEL_TRACES_EXPORTER=mlflow``
made): spooled with the spans, exactly once like them, folded into its span before mapping. Other records are left
out (counted in :attr:`MLflowLogExporter.ignored`). Usage, in code::

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    logs = LoggerProvider()
    logs.add_log_record_processor(BatchLogRecordProcessor(MLflowLogExporter(span_exporter)))
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow.export.exporter import MLflowSpanExporter, live_exporters
from otel_mlflow.mapping.log_events import event_span, is_genai_event, record_fields

try:  # the SDK's names since 1.39; before, LogExporter / LogExportResult
    from opentelemetry.sdk._logs.export import LogRecordExporter as _LogExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult as _Result
except ImportError:  # pragma: no cover - older SDKs
    from opentelemetry.sdk._logs.export import LogExporter as _LogExporter
    from opentelemetry.sdk._logs.export import LogExportResult as _Result  # type: ignore[assignment]


class MLflowLogExporter(_LogExporter):
    """A log record exporter that sends GenAI events to the span exporter of the same process.

    Args:
        span_exporter: where the events go; by default the process's live :class:`MLflowSpanExporter` (made by the
            SDK for ``OTEL_TRACES_EXPORTER=mlflow``), else one of its own, made at the first event.
    """

    def __init__(self, span_exporter: MLflowSpanExporter | None = None) -> None:
        self._given = span_exporter
        self._own: MLflowSpanExporter | None = None
        self._lock = threading.Lock()
        self.ignored = 0
        """Records that are no GenAI event of a span (no ``gen_ai.*`` event name, or no trace and span ids)."""

    def export(self, batch: Sequence[Any]) -> Any:
        spans = [span for span in map(self._event_span, batch) if span is not None]
        if not spans:
            return _Result.SUCCESS
        done = self._target().export(spans)
        return _Result.SUCCESS if done is SpanExportResult.SUCCESS else _Result.FAILURE

    def _event_span(self, item: Any) -> ReadableSpan | None:
        """A ``ReadableLogRecord`` (SDK 1.39+) or ``LogData`` (older) as an event span; None if not an event."""
        record = getattr(item, "log_record", item)
        attributes = dict(getattr(record, "attributes", None) or {})
        name = getattr(record, "event_name", None) or str(attributes.pop("event.name", "") or "")
        trace_id, span_id = getattr(record, "trace_id", None), getattr(record, "span_id", None)
        if not is_genai_event(name, trace_id, span_id):
            self.ignored += 1
            return None
        resource = getattr(item, "resource", None) or getattr(record, "resource", None)
        time_ns = getattr(record, "timestamp", None) or getattr(record, "observed_timestamp", None) or 0
        fields = record_fields(attributes, getattr(record, "body", None))
        return event_span(int(trace_id or 0), int(span_id or 0), name, fields, int(time_ns), resource)

    def _target(self) -> MLflowSpanExporter:
        if self._given is not None:
            return self._given
        with self._lock:
            live = [e for e in live_exporters() if e is not self._own]
            if live:
                return live[0]
            if self._own is None:
                self._own = MLflowSpanExporter()
            return self._own

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self._own.force_flush(timeout_millis) if self._own is not None else True

    def shutdown(self) -> None:
        if self._own is not None:
            self._own.shutdown()


__all__ = ["MLflowLogExporter"]
