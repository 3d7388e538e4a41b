"""App spans -> OTLP exporter -> a real collector binary (rotel) -> `otel-mlflow receive` -> sqlite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mlflow import attributes as A
from otel_mlflow.config import ReceiverSettings
from otel_mlflow.serve.grpc_receiver import GrpcReceiver
from otel_mlflow.serve.receiver import Receiver
from tests.helpers import Store, rotel_collector, wait_for

pytestmark = pytest.mark.subprocess


@pytest.fixture(params=["http", "grpc"])
def collector(request: pytest.FixtureRequest, tmp_path: Path, make_exporter: Any) -> Iterator[tuple[str, Receiver]]:
    """(collector's OTLP/HTTP traces URL, the receiver behind it); the collector exports to the receiver over
    OTLP/HTTP or OTLP/gRPC (both gzip)."""
    receiver = Receiver(ReceiverSettings(host="127.0.0.1", port=0, grpc_port=0), make_exporter()).start()
    grpc_receiver = GrpcReceiver(receiver.intake).start() if request.param == "grpc" else None
    target = f"http://{grpc_receiver.endpoint}" if grpc_receiver else receiver.url
    try:
        with rotel_collector(tmp_path, target, request.param) as (http_port, _):
            yield f"http://127.0.0.1:{http_port}/v1/traces", receiver
    finally:
        if grpc_receiver is not None:
            grpc_receiver.stop(0)
        receiver.stop()


def test_spans_through_a_collector_become_runs(collector: tuple[str, Receiver], store: Store) -> None:
    url, receiver = collector
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-behind-collector"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url), schedule_delay_millis=100))
    tracer = provider.get_tracer("e2e")
    for question, tokens in (("What is RAG?", 12), ("What is MLflow?", 20)):
        with tracer.start_as_current_span("POST /ask") as root:
            root.set_attribute("http.route", "/ask")
            root.set_attribute(A.QUESTION, question)
            with tracer.start_as_current_span("chat gpt-4") as chat:
                chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
                chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, tokens)
                chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 5)
    provider.shutdown()

    assert wait_for(lambda: receiver.stats["accepted_spans"] >= 4, 30), receiver.stats
    assert receiver.exporter.force_flush(30_000)
    runs = store.runs()
    assert len(runs) == 2
    by_question = {store.artifact_text(r, "question.txt"): r for r in runs}
    assert by_question["What is RAG?"].data.metrics["gen_ai.usage.input_tokens"] == 12
    assert by_question["What is MLflow?"].data.metrics["gen_ai.usage.input_tokens"] == 20
    for run in runs:
        assert run.data.params["model"] == "gpt-4"
        assert run.data.tags["service.name"] == "rag-behind-collector"
        assert run.data.tags["http.route"] == "/ask"
