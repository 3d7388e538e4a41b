"""Spans per second through `otel-mlflow receive` into a sqlite store (OTLP protobuf over loopback HTTP or gRPC)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.persist import prepare_experiment
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import (
    Config,
    ReceiverSettings,
)
from otel_mlflow.serve.grpc_receiver import GrpcReceiver
from otel_mlflow.serve.receiver import Receiver


def make_bodies(traces: int, llm_call, per_body: int = 256) -> list[bytes]:  # type: ignore[no-untyped-def]
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for _ in range(traces):
        llm_call(tracer)
    spans = list(memory.get_finished_spans())
    return [encode_spans(spans[i : i + per_body]).SerializeToString() for i in range(0, len(spans), per_body)]


def bench_receiver(
    workdir: Path,
    traces: int,
    llm_call,
    transport: str = "http",  # type: ignore[no-untyped-def]
    link_traces: bool = True,
) -> tuple[float, float]:
    """(spans/s accepted over ``transport`` (``http`` or ``grpc``), spans/s persisted) for ``traces`` two-span
    traces in window mode, one client sending bodies of 256 spans one after another; ``link_traces`` False
    writes the window runs only (no MLflow traces)."""
    store = workdir / f"recv-{time.monotonic_ns()}"
    store.mkdir()
    uri, name = f"sqlite:///{store / 'mlflow.db'}", f"bench-{time.monotonic_ns()}"
    prepare_experiment(uri, name, str(store / "a"))
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri=uri,
            artifact_location=str(store / "a"),
            experiment_name=name,
            flush_interval=0.05,
            max_queue_size=traces * 4,
            run_mode="window",
            link_traces=link_traces,
        )
    )
    receiver = Receiver(ReceiverSettings(port=0, grpc_port=0), exporter).start()
    grpc_receiver = GrpcReceiver(receiver.intake).start() if transport == "grpc" else None
    bodies = make_bodies(traces, llm_call)
    spans = traces * 2
    try:
        started = time.perf_counter()
        if grpc_receiver is not None:
            _send_grpc(grpc_receiver.endpoint, bodies)
        else:
            with httpx.Client(base_url=receiver.url, headers={"Content-Type": "application/x-protobuf"}) as client:
                for body in bodies:
                    client.post("/v1/traces", content=body).raise_for_status()
        accepted = time.perf_counter() - started
        exporter.force_flush(600_000)
        persisted = time.perf_counter() - started
    finally:
        if grpc_receiver is not None:
            grpc_receiver.stop(0)
        receiver.stop()
    return spans / accepted, exporter.stats.spans_written / persisted


def round_trip_ms(workdir: Path, llm_call, requests: int = 300) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(p50, p99) milliseconds from sending a one-trace OTLP/HTTP request to its 200, one kept-alive connection
    (a Nagle delay would show as ~40 ms)."""
    store = workdir / f"rtt-{time.monotonic_ns()}"
    store.mkdir()
    uri, name = f"sqlite:///{store / 'mlflow.db'}", f"bench-{time.monotonic_ns()}"
    prepare_experiment(uri, name, str(store / "a"))
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={}, tracking_uri=uri, artifact_location=str(store / "a"), experiment_name=name, run_mode="window"
        )
    )
    receiver = Receiver(ReceiverSettings(port=0, grpc_port=0), exporter).start()
    bodies = make_bodies(requests, llm_call, per_body=2)
    times = []
    try:
        with httpx.Client(base_url=receiver.url, headers={"Content-Type": "application/x-protobuf"}) as client:
            for body in bodies:
                started = time.perf_counter()
                client.post("/v1/traces", content=body).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
    finally:
        receiver.stop()
    times.sort()
    return times[len(times) // 2], times[int(len(times) * 0.99)]


def _send_grpc(endpoint: str, bodies: list[bytes]) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

    requests = [ExportTraceServiceRequest.FromString(body) for body in bodies]  # parsed before the clock counts
    with grpc.insecure_channel(endpoint) as channel:
        stub = TraceServiceStub(channel)
        for request in requests:
            stub.Export(request, timeout=60)
