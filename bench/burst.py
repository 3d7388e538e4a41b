"""A burst of requests within a few seconds (one in 50 failed), zero-code settings: spans lost (must be 0), memory
held, how long the exit takes to write everything (against the same burst with runs only: issue 27), and whether
every failed request's MLflow trace is stored."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.persist import prepare_experiment
from bench.sustained import read_back, request_of
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import (
    BSP_MAX_QUEUE_SIZE,
    DEFAULT_EXPERIMENT_NAME,
    Config,
)


def burst(requests: int = 10_000, traces: str | None = None) -> dict[str, float]:
    """Zero-code settings: the distro's BatchSpanProcessor queue (20,480) and the default run mode; ``traces`` the
    trace policy (None: the default, ``adaptive``; ``off``: runs only)."""
    store = Path(tempfile.mkdtemp(prefix="bench-burst-"))
    uri = f"sqlite:///{store / 'mlflow.db'}"
    prepare_experiment(uri, DEFAULT_EXPERIMENT_NAME, str(store / "a"))
    policy = {"traces": traces} if traces else {}
    config = Config.from_env(env={}, tracking_uri=uri, artifact_location=str(store / "a"), **policy)
    exporter = MLflowSpanExporter(config=config)
    provider = TracerProvider(resource=Resource.create({"service.name": "burst"}))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=BSP_MAX_QUEUE_SIZE))
    tracer = provider.get_tracer("burst")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    failed = [trace_id for trace_id, bad in (request_of(tracer, i) for i in range(requests)) if bad]
    issued = time.perf_counter() - started
    provider.shutdown()
    persisted = time.perf_counter() - started
    stats = exporter.stats
    return {
        "requests": requests,
        "issued_seconds": issued,
        "persisted_seconds": persisted,
        "exit_seconds": persisted - issued,
        **read_back(uri, DEFAULT_EXPERIMENT_NAME, failed),
        "spans_made": requests * 2,
        "spans_lost": requests * 2 - stats.spans_written,
        "peak_rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024,
    }
