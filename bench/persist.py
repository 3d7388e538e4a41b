"""End-to-end persisted requests per second: otel-mlflow (window and trace mode) against the raw
``log_batch`` ceiling and the old helper style, into a sqlite store or a local `mlflow server`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.onthread import old_helper_call
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config

ANSWER = "RAG retrieves documents and generates an answer grounded in them."


def serve_request(tracer: Any) -> None:
    """The spans of one served request: a SERVER root and a chat span with GenAI attributes."""
    with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.route", "/ask")
        root.set_attribute("otel_mlflow.question", "What is RAG?")
        root.set_attribute("otel_mlflow.answer", ANSWER)
        with tracer.start_as_current_span("chat gpt-4", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4")
            chat.set_attribute("gen_ai.usage.input_tokens", 42)
            chat.set_attribute("gen_ai.usage.output_tokens", 17)


def prepare_experiment(uri: str, name: str, artifacts: str | None) -> None:
    """Create the experiment (and the store's schema) before measuring: not part of any measurement."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=artifacts)


def otel_mlflow_rate(uri: str, artifacts: str, mode: str, requests: int, **settings: Any) -> tuple[float, int]:
    """(persisted requests/s, spans lost) for ``requests`` served requests: their finished spans, made before the
    clock (making them is the app's cost, measured by the on-thread rows), handed to ``export()`` 512 at a time
    as the SDK's BatchSpanProcessor does, then ``shutdown()`` (it waits until MLflow has everything)."""
    name = f"bench-{mode}-{time.monotonic_ns()}"
    prepare_experiment(uri, name, artifacts)
    spans = request_spans(requests)
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri=uri,
            artifact_location=artifacts,
            experiment_name=name,
            run_mode=mode,
            flush_interval=0.2,
            max_queue_size=max(20_000, requests * 3),
            **settings,
        )
    )
    started = time.perf_counter()
    for batch in range(0, len(spans), 512):
        exporter.export(spans[batch : batch + 512])
    exporter.shutdown()  # closes the windows, waits for MLflow
    elapsed = time.perf_counter() - started
    lost = len(spans) - exporter.stats.spans_written
    return requests / elapsed, lost


def request_spans(requests: int) -> list[Any]:
    """The finished spans of ``requests`` served requests (what the exporter is given), made before any clock."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for _ in range(requests):
        serve_request(tracer)
    return list(memory.get_finished_spans())


def window_step_metrics() -> list[tuple[str, float]]:
    """(key, value) of the step metrics a window run logs per request, read from the mapping itself (so the
    ceiling logs exactly what window mode logs: latency, tokens in and out, cost)."""
    from otel_mlflow.export.mlflow.prices import price_source
    from otel_mlflow.export.pending.windows import WindowSet
    from otel_mlflow.mapping.request_record import request_record
    from otel_mlflow.mapping.run_plan import MappingOptions
    from otel_mlflow.mapping.window import window_plan

    options = MappingOptions(prices=price_source(None))
    window = WindowSet(60, 10).add(request_record(request_spans(1), True, options.prices), 0.0)
    return [(m.key, m.value) for m in window_plan(window, options)[0].metrics]


def raw_ceiling_rate(uri: str, artifacts: str, requests: int, traces: bool = False) -> float:
    """The window run's per-request metrics, logged by hand with log_batch (1,000 per call, MLflow's limit) into
    one run; with ``traces``, also each request's spans stored as MLflow traces linked to that run by the same
    MLflow calls otel-mlflow makes, as many traces a call (a server's /v1/traces; TracingClient.log_spans and
    link_traces_to_run in process: :mod:`otel_mlflow.export.mlflow.traces`), one call after another."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    from otel_mlflow.export.mlflow.traces import MLflowTraces

    keys = window_step_metrics()
    spans = request_spans(requests) if traces else []
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(f"raw-{time.monotonic_ns()}", artifact_location=artifacts)
    started = time.perf_counter()
    run = client.create_run(experiment)
    now = int(time.time() * 1000)
    metrics = [Metric(key, value + i % 97, now + i, i) for i in range(requests) for key, value in keys]
    for chunk in range(0, len(metrics), 1000):
        client.log_batch(run.info.run_id, metrics=metrics[chunk : chunk + 1000], synchronous=True)
    MLflowTraces(uri).log(client, experiment, run.info.run_id, spans)
    client.set_terminated(run.info.run_id)
    return requests / (time.perf_counter() - started)


def one_run_per_call_floor(uri: str, artifacts: str, requests: int) -> float:
    """create_run + one log_batch + set_terminated per request, writing exactly the params, metrics and
    tags that otel-mlflow's trace mode writes for that request: the least a run per trace can cost."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_mlflow.mapping.run_plan import MappingOptions
    from otel_mlflow.mapping.trace_run import plan_run

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    serve_request(provider.get_tracer("bench"))
    plan = plan_run(memory.get_finished_spans(), MappingOptions(capture_content=False, log_spans=False))
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment(f"floor-{time.monotonic_ns()}", artifact_location=artifacts)
    started = time.perf_counter()
    for _ in range(requests):
        run = client.create_run(experiment, tags=plan.tags)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(m.key, m.value, m.timestamp_ms, m.step) for m in plan.metrics],
            params=[Param(k, v) for k, v in plan.params.items()],
            synchronous=True,
        )
        client.set_terminated(run.info.run_id)
    return requests / (time.perf_counter() - started)


def old_helper_rate(uri: str, artifacts: str, requests: int) -> float:
    import mlflow

    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(f"old-{time.monotonic_ns()}", artifact_location=artifacts)
    started = time.perf_counter()
    for _ in range(requests):
        old_helper_call(experiment)
    return requests / (time.perf_counter() - started)
