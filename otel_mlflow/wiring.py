"""The wiring: where instrumentation meets export. ``init_mlflow`` and the process's span pipeline.

``init_mlflow`` is one call that points MLflow and OpenTelemetry at the same place. This module also
registers the helper API's backend (:mod:`otel_mlflow.instrumentation.backend`): the pipeline below.

Usage::

    from otel_mlflow import init_mlflow
    init_mlflow(experiment_name="rag-experiments")   # or MLFLOW_EXPERIMENT_NAME, default llmops-rag

It sets MLflow's tracking URI and experiment (created with ``MLFLOW_ARTIFACT_PATH``, else
:attr:`Config.artifact_root <otel_mlflow.config.Config.artifact_root>`: ``mlartifacts/`` beside a sqlite store),
and makes sure spans reach MLflow:

- no TracerProvider yet: installs one with ``MLflowSpanExporter`` on a ``BatchSpanProcessor``;
- one already set (by the app or ``opentelemetry-instrument``): keeps it; adds the exporter only with
  ``add_exporter=True`` and only when the process has none;
- either way, spans started while an MLflow run is active are stamped with that run's id.

Calling it again with the same arguments does nothing. The helper API (``log_llm_call``...) builds the
same pipeline from the environment when the app did not call it, without talking to MLflow: the
writer thread resolves the experiment.

``init_mlflow()`` checks the store within :data:`INIT_CHECK_SECONDS` (2 s for an MLflow server's
``/health``, 10 s for a local store's first open, which creates its schema). Past that it logs why and
returns ``""`` instead of the experiment id; spans still go to the experiment, which the writer resolves
(and creates) once the store answers.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from otel_mlflow.config import (
    BSP_MAX_QUEUE_SIZE,
    Config,
    default_service_name,
    service_name_given,
)
from otel_mlflow.export.exporter import MLflowSpanExporter, live_exporters
from otel_mlflow.export.mlflow.server import MLflowUnavailable, get_or_create_experiment, make_client, require_reachable
from otel_mlflow.instrumentation.backend import register_backend
from otel_mlflow.instrumentation.llm_span import TRACER_NAME
from otel_mlflow.instrumentation.run_binding import add_run_stamper
from otel_mlflow.scrub import get_logger
from otel_mlflow.sigterm import install_sigterm_flush

_logger = get_logger(__name__)
INIT_CHECK_SECONDS = 10.0
"""How long ``init_mlflow()`` waits for a local store to open; a server gets its 2 s health check."""


@dataclass
class Pipeline:
    """Where the helper API sends its spans, and what to flush."""

    provider: Any
    config: Config
    experiment_id: str | None = None
    exporter: MLflowSpanExporter | None = None
    resolving: threading.Event | None = None
    """Set once the background lookup of the experiment ends; a second ``init_mlflow()`` waits on the same one."""

    @property
    def tracer(self) -> Tracer:
        return trace.get_tracer(TRACER_NAME, tracer_provider=self.provider)

    def require_experiment(self) -> str:
        """See :func:`require_experiment`."""
        return require_experiment(self)

    def flush(self, timeout_seconds: float = 30.0) -> bool:
        """Hand every finished span to the exporters and wait until MLflow has them."""
        ok = True
        force_flush = getattr(self.provider, "force_flush", None)
        if force_flush is not None:
            ok = bool(force_flush(int(timeout_seconds * 1000)))
        for exporter in {*live_exporters(), *([self.exporter] if self.exporter else [])}:
            ok = exporter.force_flush(int(timeout_seconds * 1000)) and ok
        return ok


_lock = threading.Lock()
_pipeline: Pipeline | None = None


def init_mlflow(
    experiment_name: str | None = None,
    tracking_uri: str | None = None,
    artifact_location: str | None = None,
    *,
    add_exporter: bool = False,
    **settings: Any,
) -> str:
    """Point MLflow and OpenTelemetry at one tracking store and experiment; returns the experiment id.

    ``settings`` are any other :class:`~otel_mlflow.config.Config` fields (``run_mode``, ...).
    """
    global _pipeline
    config = Config.from_env(
        experiment_name=experiment_name,
        tracking_uri=tracking_uri,
        artifact_location=artifact_location,
        **settings,
    )
    with _lock:
        if _pipeline is not None:
            _warn_if_different(_pipeline, config)
        else:
            _pipeline = _make_pipeline(config, None, add_exporter)
        pipe = _pipeline
    return resolve_experiment(pipe, wait=INIT_CHECK_SECONDS) or ""


def pipeline() -> Pipeline:
    """The pipeline of the helper API, made from the environment on first use when the app made none.
    Never talks to MLflow: helper calls made before ``init_mlflow()`` return at once whatever the store."""
    global _pipeline
    if _pipeline is None:
        config = Config.from_env()
        with _lock:
            if _pipeline is None:
                _pipeline = _make_pipeline(config, None, add_exporter=False)
    return _pipeline


def resolve_experiment(pipe: Pipeline, wait: float) -> str | None:
    """Point MLflow at the pipeline's store and experiment (created when missing); the experiment id, or
    None when the store does not answer within ``wait`` seconds (the work goes on in the background).
    Raises :class:`~otel_mlflow.export.mlflow.server.MLflowUnavailable` only from :func:`require_experiment`."""
    if pipe.experiment_id is not None:
        return pipe.experiment_id
    try:
        require_reachable(pipe.config.tracking_uri)
    except MLflowUnavailable as exc:
        _logger.warning("otel-mlflow: %s; spans are kept until it answers", exc)
        return None
    with _lock:
        done, start = (pipe.resolving, False) if pipe.resolving is not None else (threading.Event(), True)
        pipe.resolving = done

    def resolve() -> None:
        try:
            pipe.experiment_id = _set_mlflow(pipe.config)
        except Exception as exc:  # noqa: BLE001 - reported below; the writer retries on its own
            _logger.warning("otel-mlflow could not open experiment %r: %s", pipe.config.experiment_name, exc)
        finally:
            with _lock:
                pipe.resolving = None
            done.set()

    if start:  # one lookup at a time: a slow first open of a sqlite store is not raced by a second
        threading.Thread(target=resolve, name="otel-mlflow-init", daemon=True).start()
    if not done.wait(wait):
        _logger.warning(
            "otel-mlflow: the tracking store did not answer within %.0f s; init_mlflow() goes on "
            "and the writer resolves experiment %r when it does",
            wait,
            pipe.config.experiment_name,
        )
    return pipe.experiment_id


def require_experiment(pipe: Pipeline) -> str:
    """The experiment id for a helper that must talk to MLflow (``@log_training_run``): fails within a
    few seconds with :class:`~otel_mlflow.export.mlflow.server.MLflowUnavailable` when the server is down."""
    if pipe.experiment_id is None:
        require_reachable(pipe.config.tracking_uri)
        pipe.experiment_id = _set_mlflow(pipe.config)
    return pipe.experiment_id


def set_pipeline(new: Pipeline | None) -> Pipeline | None:
    """Swap the helper API's pipeline (for test fixtures); returns the previous one."""
    global _pipeline
    with _lock:
        previous, _pipeline = _pipeline, new
    return previous


def flush(timeout_seconds: float = 30.0) -> bool:
    """Wait until every span made so far is written to MLflow (or the timeout passes)."""
    return pipeline().flush(timeout_seconds)


def _set_mlflow(config: Config) -> str:
    import mlflow

    if config.tracking_uri:
        mlflow.set_tracking_uri(config.tracking_uri)
    experiment_id = get_or_create_experiment(
        make_client(config.tracking_uri), config.experiment_name, config.artifact_root, config.param_fields
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def _make_pipeline(config: Config, experiment_id: str | None, add_exporter: bool) -> Pipeline:
    provider = trace.get_tracer_provider()
    exporter: MLflowSpanExporter | None = None
    if not hasattr(provider, "add_span_processor"):  # no SDK provider yet: install ours
        given = service_name_given(os.environ)  # else never the SDK's "unknown_service:python3"
        resource = None if given else Resource.create({SERVICE_NAME: default_service_name(sys.argv)})
        provider = TracerProvider(resource=resource)
        exporter = MLflowSpanExporter(config=config)
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=BSP_MAX_QUEUE_SIZE))
        trace.set_tracer_provider(provider)
        install_sigterm_flush()
    elif add_exporter and not live_exporters():
        exporter = MLflowSpanExporter(config=config)
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=BSP_MAX_QUEUE_SIZE))
    elif not live_exporters():
        _logger.warning(
            "otel-mlflow: the app's TracerProvider has no MLflow exporter: helper calls reach MLflow only through "
            "its own exporters (OTLP to a Collector and otel-mlflow receive); to write from this process, call "
            "init_mlflow(add_exporter=True) or run with OTEL_TRACES_EXPORTER=mlflow"
        )
    add_run_stamper(provider)
    return Pipeline(provider=provider, config=config, experiment_id=experiment_id, exporter=exporter)


def _warn_if_different(current: Pipeline, config: Config) -> None:
    if (config.experiment_name, config.tracking_uri) != (current.config.experiment_name, current.config.tracking_uri):
        _logger.warning(
            "otel-mlflow is already initialised for experiment %r at %s; new runs keep going there. "
            "Start a new process to change the tracking store or experiment.",
            current.config.experiment_name,
            current.config.tracking_uri or "MLflow's default",
        )


register_backend(pipeline)
