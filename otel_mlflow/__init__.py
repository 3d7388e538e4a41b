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
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.export.stats import ExportStats
from otel_mlflow.instrumentation.feedback import current_trace_id, log_feedback
from otel_mlflow.instrumentation.helpers import log_evaluation_metrics, log_llm_call, log_prediction, log_training_run
from otel_mlflow.instrumentation.llm_span import LLMCall, llm_span, trace_llm
from otel_mlflow.instrumentation.prompts import use_prompt
from otel_mlflow.registry import ModelNotFoundError, get_latest_model, register_model, transition_model_to_stage
from otel_mlflow.wiring import flush, init_mlflow

__all__ = [
    "Config",
    "ConfigError",
    "ExportStats",
    "LLMCall",
    "MLflowSpanExporter",
    "ModelNotFoundError",
    "current_trace_id",
    "flush",
    "get_latest_model",
    "init_mlflow",
    "llm_span",
    "log_evaluation_metrics",
    "log_feedback",
    "log_llm_call",
    "log_prediction",
    "log_training_run",
    "register_model",
    "trace_llm",
    "transition_model_to_stage",
    "use_prompt",
]
__version__ = "0.1.0"
