"""The exporter's own counters as OpenTelemetry metrics, for whoever collects the app's metrics.

``otel_mlflow.export.exporter.spans`` (a counter) with the attribute ``outcome``: ``written``,
``dropped_queue_full``, ``dropped_write_failed``, ``dropped_mapping_failed``, ``received``.
With no MeterProvider configured (the distro's default ``OTEL_METRICS_EXPORTER=none``), it costs nothing.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics

METER_NAME = "otel_mlflow"
SPANS_COUNTER = "otel_mlflow.export.exporter.spans"


class SelfTelemetry:
    def __init__(self, meter_provider: Any = None) -> None:
        meter = metrics.get_meter(METER_NAME, meter_provider=meter_provider)
        self._spans = meter.create_counter(SPANS_COUNTER, unit="{span}", description="spans by outcome")

    def add(self, stat_name: str, n: int) -> None:
        """Count ``n`` spans under the ExportStats field ``stat_name`` (``spans_written`` -> ``written``)."""
        self._spans.add(n, {"outcome": stat_name.removeprefix("spans_")})
