"""``MLflowRunInstrumentor``: spans started inside an MLflow run carry that run's id, so they land in it.

MLflow's active run is thread-local and the exporter writes on another thread, so the run is read when a
span starts: this instrumentor adds :class:`~otel_mlflow.instrumentation.run_binding.RunIdStamper` to the
global TracerProvider. Zero-code, ``opentelemetry-instrument`` loads it (entry point ``otel_mlflow_runs``)
after the SDK is configured; ``init_mlflow()`` and ``otel_mlflow_capture`` add the stamper themselves.
In code::

    from instrumentors.mlflow_runs import MLflowRunInstrumentor
    MLflowRunInstrumentor().instrument()                 # or instrument(tracer_provider=provider)

Disable with ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_mlflow_runs``. ``uninstrument()`` stops the
stamping (span processors cannot be removed from an SDK provider, so the stamper is switched off).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from otel_mlflow.instrumentation.run_binding import add_run_stamper, set_stamping


class MLflowRunInstrumentor(BaseInstrumentor):
    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        set_stamping(True)
        add_run_stamper(kwargs.get("tracer_provider") or trace.get_tracer_provider())

    def _uninstrument(self, **kwargs: Any) -> None:
        set_stamping(False)
