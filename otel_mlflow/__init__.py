"""otel-mlflow: OpenTelemetry spans of LLM applications, written to MLflow experiment tracking.

Usage (zero-code)::

    pip install otel-mlflow
    OTEL_TRACES_EXPORTER=mlflow opentelemetry-instrument uvicorn app:app

Usage (in code)::

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_mlflow import MLflowSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(MLflowSpanExporter()))

Importing this package does not import ``mlflow`` (that costs 1.5-2 s); the exporter imports it
on its writer thread when it first writes. Environment variables: see :mod:`otel_mlflow.config`.
"""

from __future__ import annotations

from otel_mlflow.config import Config, ConfigError
from otel_mlflow.exporter import ExportStats, MLflowSpanExporter
from otel_mlflow.tracing import LLMCall, llm_span, trace_llm

__all__ = ["Config", "ConfigError", "ExportStats", "LLMCall", "MLflowSpanExporter", "llm_span", "trace_llm"]
__version__ = "0.1.0"
