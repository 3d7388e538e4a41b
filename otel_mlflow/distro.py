"""The OpenTelemetry distro and configurator that ``opentelemetry-instrument`` loads for otel-mlflow.

With ``pip install otel-mlflow`` this works with no other package and no code change::

    opentelemetry-instrument uvicorn app:app                          # traces -> MLflow
    OTEL_TRACES_EXPORTER=mlflow opentelemetry-instrument uvicorn app:app  # the same, explicit

Defaults set only when the variable is unset (your settings always win):

- ``OTEL_TRACES_EXPORTER=mlflow``
- ``OTEL_LOGS_EXPORTER=mlflow``: GenAI events sent as log records (the GenAI instrumentations' ``event_only``
  mode) join their spans (:mod:`otel_mlflow.export.log_exporter`); other log records are left out.
- ``OTEL_METRICS_EXPORTER=none``: otel-mlflow writes traces; without it, the SDK would look for an OTLP metrics
  exporter that is not installed and fail to start.
- ``OTEL_BSP_MAX_QUEUE_SIZE=20480``: a burst of requests fits the span queue (the SDK's 2,048 drops).
- ``OTEL_SERVICE_NAME``, when neither it nor ``OTEL_RESOURCE_ATTRIBUTES`` names the service: the app or script
  being run (:mod:`otel_mlflow.config.service`), never the SDK's ``unknown_service:python3``.
- ``OTEL_MLFLOW_WRITER=process``: a served app only spools; one writer process per spool folder writes MLflow, off
  the app's GIL (:mod:`otel_mlflow.export.writer_process`). In code the default stays ``thread``.
- ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``: health routes (``/health``, ``/healthz``, ``/livez``, ``/readyz``,
  ``/ping``) make no spans, so probes make no runs.

It also flushes spans on SIGTERM (see :mod:`otel_mlflow.sigterm`), so a uvicorn app stopped with
SIGTERM loses nothing. When ``opentelemetry-distro`` is installed too, choose with ``OTEL_PYTHON_DISTRO=otel_mlflow``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from opentelemetry.environment_variables import (
    OTEL_LOGS_EXPORTER,
    OTEL_METRICS_EXPORTER,
    OTEL_TRACES_EXPORTER,
)
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]  # upstream: "# type: ignore"
from opentelemetry.sdk.environment_variables import OTEL_BSP_MAX_QUEUE_SIZE

from otel_mlflow.config import (
    BSP_MAX_QUEUE_SIZE,
    DEFAULT_EXCLUDED_URLS,
    ENV_FASTAPI_EXCLUDED_URLS,
    ENV_WRITER,
    default_service_name,
    service_name_given,
)
from otel_mlflow.instrumentation.otel_private import SDKConfigurator
from otel_mlflow.sigterm import install_sigterm_flush

EXPORTER_NAME = "mlflow"
SERVED_APP_WRITER = "process"
"""Measured in ``make bench`` (sustained load, FastAPI latency): the app's GIL no longer pays for MLflow's client."""


class MLflowConfigurator(SDKConfigurator):
    """The SDK's own configurator (reads ``OTEL_*`` variables), registered under otel-mlflow's name: the
    SDK registers none, and ``opentelemetry-instrument`` needs one (see
    :mod:`otel_mlflow.instrumentation.otel_private`). Spans are stamped with the MLflow run active where they
    start by the ``otel_mlflow_runs`` instrumentor, which runs after this."""


class MLflowDistro(BaseDistro):
    """Sets otel-mlflow's defaults before the SDK is configured (``_configure`` is the hook BaseDistro asks
    its subclasses to implement)."""

    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault(OTEL_TRACES_EXPORTER, EXPORTER_NAME)
        os.environ.setdefault(OTEL_METRICS_EXPORTER, "none")
        os.environ.setdefault(OTEL_LOGS_EXPORTER, EXPORTER_NAME)
        os.environ.setdefault(OTEL_BSP_MAX_QUEUE_SIZE, str(BSP_MAX_QUEUE_SIZE))
        os.environ.setdefault(ENV_FASTAPI_EXCLUDED_URLS, DEFAULT_EXCLUDED_URLS)
        os.environ.setdefault(ENV_WRITER, SERVED_APP_WRITER)
        if not service_name_given(os.environ):  # never the SDK's "unknown_service:python3"
            os.environ["OTEL_SERVICE_NAME"] = default_service_name(sys.argv)
        install_sigterm_flush()
