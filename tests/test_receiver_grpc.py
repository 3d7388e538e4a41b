"""OTLP/gRPC into ``otel-mlflow receive``: the SDK's own gRPC exporter (the default protocol of most SDKs),
gzip, the token in metadata, partial success, and the status codes the OTLP specification gives for bad
requests and for a full spool. A real grpcio server, real clients, a real sqlite store."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow import attributes as A
from otel_mlflow.config import ReceiverSettings
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.serve.grpc_receiver import SERVICE, GrpcReceiver
from otel_mlflow.serve.intake import Intake
from otel_mlflow.testing import free_port
from tests.helpers import SpanRecorder, Store, receiver_process, wait_for
from tests.test_receiver import rag_spans


@pytest.fixture
def start_grpc(make_exporter: Any) -> Iterator[Any]:
    started: list[GrpcReceiver] = []

    def start(
        token: str | None = None, max_body_bytes: int = 1 << 20, max_spans: int = 50_000, **exporter_settings: Any
    ) -> GrpcReceiver:
        settings = ReceiverSettings(
            host="127.0.0.1", port=0, grpc_port=0, token=token, max_body_bytes=max_body_bytes, max_spans=max_spans
        )
        grpc_receiver = GrpcReceiver(Intake(make_exporter(**exporter_settings), settings)).start()
        started.append(grpc_receiver)
        return grpc_receiver

    yield start
    for grpc_receiver in started:
        grpc_receiver.stop(0)  # make_exporter shuts the exporter down


def sdk_exporter(receiver: GrpcReceiver, **kwargs: Any) -> OTLPSpanExporter:
    return OTLPSpanExporter(endpoint=f"http://{receiver.endpoint}", insecure=True, timeout=10, **kwargs)


def test_the_sdks_grpc_exporter_with_gzip_becomes_the_same_run_as_in_process(
    recorder: SpanRecorder, store: Store, start_grpc: Any
) -> None:
    receiver = start_grpc()
    spans = rag_spans(recorder)
    client = sdk_exporter(receiver, compression=grpc.Compression.Gzip)
    assert client.export(spans) is SpanExportResult.SUCCESS
    client.shutdown()
    assert receiver.intake.exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.params == plan_run(spans, MappingOptions()).params
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert store.artifact_text(run, "prompt.txt") == "user: What is RAG?"
    assert receiver.intake.stats["accepted_spans"] == len(spans)


def test_token_in_metadata(recorder: SpanRecorder, store: Store, start_grpc: Any) -> None:
    receiver = start_grpc(token="grpc-s3cret")
    spans = rag_spans(recorder)
    for headers in ({}, {"authorization": "Bearer wrong"}):
        client = sdk_exporter(receiver, headers=headers)
        assert client.export(spans) is SpanExportResult.FAILURE  # UNAUTHENTICATED is not retried
        client.shutdown()
    client = sdk_exporter(receiver, headers={"authorization": "Bearer grpc-s3cret"})
    assert client.export(spans) is SpanExportResult.SUCCESS
    client.shutdown()
    assert receiver.intake.exporter.force_flush(20_000)
    assert len(store.runs()) == 1 and receiver.intake.stats["refused_requests"] == 2


def call(receiver: GrpcReceiver, request: Any) -> Any:
    with grpc.insecure_channel(receiver.endpoint) as channel:
        return TraceServiceStub(channel).Export(request, timeout=10)


def test_partial_success_for_spans_with_bad_ids(recorder: SpanRecorder, store: Store, start_grpc: Any) -> None:
    receiver = start_grpc()
    request = encode_spans(rag_spans(recorder))
    bad = request.resource_spans[0].scope_spans[0].spans.add()
    bad.CopyFrom(request.resource_spans[0].scope_spans[0].spans[0])
    bad.trace_id = b"\x00\x01"
    response = call(receiver, request)
    assert response.partial_success.rejected_spans == 1
    assert "trace_id must be 16 bytes" in response.partial_success.error_message
    assert receiver.intake.exporter.force_flush(20_000)
    assert len(store.runs()) == 1


def test_bad_requests_are_invalid_argument_with_the_reason(recorder: SpanRecorder, start_grpc: Any) -> None:
    receiver = start_grpc(max_spans=3, max_body_bytes=50_000)
    with pytest.raises(grpc.RpcError) as too_many:
        call(receiver, encode_spans([s for _ in range(3) for s in rag_spans(recorder)]))
    assert too_many.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # not retryable: retrying cannot help
    assert "more than the 3 taken at once" in too_many.value.details()
    spans = rag_spans(recorder)
    spans[0]._attributes = {"big": "x" * 60_000}  # one message over the body bound
    with pytest.raises(grpc.RpcError) as too_big:
        call(receiver, encode_spans(spans))
    assert too_big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # grpc's own message size limit


def test_full_spool_is_unavailable_with_retry_info_and_keeps_nothing(recorder: SpanRecorder, start_grpc: Any) -> None:
    children = [s for s in rag_spans(recorder) if s.parent is not None]
    big = encode_spans([span for _ in range(20) for span in rag_spans(recorder)])
    receiver = start_grpc(spool_max_bytes=big.ByteSize() + encode_spans(children).ByteSize() // 2, trace_timeout=60)
    call(receiver, encode_spans(children))
    with pytest.raises(grpc.RpcError) as full:
        call(receiver, big)
    assert full.value.code() == grpc.StatusCode.UNAVAILABLE  # retryable, per the OTLP specification
    assert "exceed the free spool space" in full.value.details()
    details = dict(full.value.trailing_metadata())["grpc-status-details-bin"]
    retry = error_details_pb2.RetryInfo()
    assert status_pb2.Status.FromString(details).details[0].Unpack(retry) and retry.retry_delay.seconds == 5
    stats = receiver.intake.exporter.stats
    assert stats.spans_received - stats.spans_dropped_queue_full == len(children)


@pytest.mark.subprocess
def test_the_cli_serves_grpc_beside_http_and_an_app_with_default_settings_reaches_it(
    recorder: SpanRecorder, store: Store, tmp_path: Path
) -> None:
    http_port, grpc_port = free_port(), free_port()
    proc = receiver_process(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_MLFLOW_RUN_MODE": "trace",
            "OTEL_MLFLOW_FLUSH_INTERVAL": "0.05",
        },
        tmp_path,
        http_port,
        grpc_port,
    )
    try:
        # an app's defaults: OTLPSpanExporter() reads OTEL_EXPORTER_OTLP_ENDPOINT (gRPC, no TLS for http://)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{grpc_port}")
            client = OTLPSpanExporter()
        assert client.export(rag_spans(recorder)) is SpanExportResult.SUCCESS
        client.shutdown()
        assert wait_for(lambda: len(store.runs()) == 1, 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    [run] = store.runs()
    assert run.data.tags[A.TAG_TRACE_ID]
    log = (tmp_path / "receiver.log").read_text()
    assert f"OTLP/gRPC on 127.0.0.1:{grpc_port}" in log and proc.returncode == 0


def raw_call(receiver: GrpcReceiver, body: bytes, token: str | None = None) -> Any:
    """An Export call carrying ``body`` as it is (not necessarily a valid message)."""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    with grpc.insecure_channel(receiver.endpoint) as channel:
        export = channel.unary_unary(f"/{SERVICE}/Export", request_serializer=None, response_deserializer=None)
        return export(body, timeout=10, metadata=metadata)


def test_a_malformed_message_is_invalid_argument_with_the_reason(start_grpc: Any) -> None:
    """Issue 26, item 11: gRPC's own parser answered INTERNAL "Exception deserializing request!"."""
    receiver = start_grpc()
    for body in (b"\xff\xff\xff\xff garbage", b"\n" * 4):
        with pytest.raises(grpc.RpcError) as bad:
            raw_call(receiver, body)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a protobuf ExportTraceServiceRequest" in bad.value.details()


def test_past_its_bound_the_receiver_answers_unavailable_with_retry_info(
    recorder: SpanRecorder, start_grpc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26, item 11: grpcio's own limit answered RESOURCE_EXHAUSTED without RetryInfo, which Collectors drop."""
    import threading

    from otel_mlflow.serve import grpc_receiver

    monkeypatch.setattr(grpc_receiver, "CONCURRENT_RPCS", 1)
    receiver = start_grpc()
    decoding = receiver.intake._decoding  # held: the first export waits inside the receiver, using its one slot
    for _ in range(2):
        decoding.acquire()
    first: list[Any] = []
    waiting = threading.Thread(target=lambda: first.append(call(receiver, encode_spans(rag_spans(recorder)))))
    waiting.start()
    assert wait_for(lambda: receiver.intake.stats["requests"] == 1, 10)
    with pytest.raises(grpc.RpcError) as busy:
        call(receiver, encode_spans(rag_spans(recorder)))
    assert busy.value.code() == grpc.StatusCode.UNAVAILABLE
    details = dict(busy.value.trailing_metadata())["grpc-status-details-bin"]
    retry = error_details_pb2.RetryInfo()
    assert status_pb2.Status.FromString(details).details[0].Unpack(retry) and retry.retry_delay.seconds == 5
    for _ in range(2):
        decoding.release()
    waiting.join(10)
    assert len(first) == 1  # the first one was taken, once the receiver had room
