"""`otel-mlflow receive`: OTLP/HTTP bodies in, MLflow runs out (a real server on 127.0.0.1, real store)."""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from typing import Any

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.serve.otlp_request import decode_request
from otel_mlflow.serve.receiver import Receiver
from tests.helpers import SpanRecorder, Store, requests_in_points, wait_for
from tests.otlp_bodies import gzipped, json_body, json_dict, protobuf_body
from tests.test_mapping import rag_trace

PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}


def post(receiver: Receiver, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{receiver.url}/v1/traces", content=body, headers=headers, timeout=10)


def assert_up(receiver: Receiver) -> None:
    assert httpx.get(f"{receiver.url}/health", timeout=5).json()["status"] == "ok"


def rag_spans(recorder: SpanRecorder) -> list[Any]:
    rag_trace(recorder)
    return recorder.take()


def test_protobuf_body_becomes_the_same_run_as_in_process(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    spans = rag_spans(recorder)
    receiver = start_receiver()
    response = post(receiver, protobuf_body(spans), PB)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    assert receiver.exporter.force_flush(20_000)
    [run] = store.runs()
    in_process = plan_run(spans, MappingOptions())
    assert run.data.params == in_process.params
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert run.data.tags["http.route"] == "/ask"
    assert run.data.tags["service.name"] == "test-service"
    assert store.artifact_text(run, "prompt.txt") == "user: What is RAG?"


def test_decoded_spans_map_exactly_like_the_originals(recorder: SpanRecorder) -> None:
    spans = rag_spans(recorder)
    for body, kind in ((protobuf_body(spans), "application/x-protobuf"), (json_body(spans), "application/json")):
        decoded = decode_request(body, kind)
        original, received = plan_run(spans, MappingOptions()), plan_run(decoded.spans, MappingOptions())
        assert received.params == original.params
        assert received.tags == original.tags
        assert [(m.key, m.value, m.step) for m in received.metrics] == [
            (m.key, m.value, m.step) for m in original.metrics
        ]
        assert received.artifacts.keys() == original.artifacts.keys()
        assert received.artifacts["prompt.txt"] == original.artifacts["prompt.txt"]


def test_json_and_gzip(recorder: SpanRecorder, store: Store, start_receiver: Any) -> None:
    receiver = start_receiver()
    response = post(receiver, json_body(rag_spans(recorder)), JS)
    assert response.status_code == 200 and response.json() == {}
    response = post(receiver, gzipped(protobuf_body(rag_spans(recorder))), {**PB, "Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert receiver.exporter.force_flush(20_000)
    assert len(store.runs()) == 2


def test_bad_content_type(recorder: SpanRecorder, start_receiver: Any) -> None:
    receiver = start_receiver()
    response = post(receiver, protobuf_body(rag_spans(recorder)), {"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["message"]
    assert_up(receiver)


def test_truncated_protobuf_is_400_with_a_reason(recorder: SpanRecorder, start_receiver: Any) -> None:
    receiver = start_receiver()
    body = protobuf_body(rag_spans(recorder))
    response = post(receiver, body[: len(body) // 2], PB)
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert "not a protobuf ExportTraceServiceRequest" in status.message
    assert_up(receiver)


def test_malformed_json_is_400(start_receiver: Any) -> None:
    receiver = start_receiver()
    for body in (
        b"",
        b"{not json",
        b"[1, 2]",
        json.dumps({"resourceSpans": "nope"}).encode(),
        json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}).encode(),
    ):
        response = post(receiver, body, JS)
        assert response.status_code == 400, body
        assert response.json()["message"]
    assert_up(receiver)


def test_empty_protobuf_is_an_empty_valid_request(store: Store, start_receiver: Any) -> None:
    receiver = start_receiver()
    assert post(receiver, b"", PB).status_code == 200
    assert receiver.exporter.force_flush(5_000)
    assert store.runs() == []


def test_oversize_and_bomb_bodies_are_413(start_receiver: Any) -> None:
    receiver = start_receiver(max_body_bytes=10_000)
    assert post(receiver, b"\x00" * 20_000, PB).status_code == 413
    bomb = gzip.compress(b"\x00" * 5_000_000)
    assert len(bomb) < 10_000
    assert post(receiver, bomb, {**PB, "Content-Encoding": "gzip"}).status_code == 413
    assert post(receiver, b"abc", {**PB, "Content-Encoding": "br"}).status_code == 415
    assert post(receiver, b"not gzip", {**PB, "Content-Encoding": "gzip"}).status_code == 400
    assert_up(receiver)


def test_token(recorder: SpanRecorder, start_receiver: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = start_receiver(token="s3cret-token-value")
    body = protobuf_body(rag_spans(recorder))
    assert post(receiver, body, PB).status_code == 401
    wrong = post(receiver, body, {**PB, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert post(receiver, body, {**PB, "Authorization": "Bearer s3cret-token-value"}).status_code == 200
    assert "s3cret-token-value" not in caplog.text


def test_full_spool_is_503_with_retry_after_keeps_nothing_and_the_retry_is_written_once(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    children = [s for s in rag_spans(recorder) if s.parent is not None]  # wait for a root that never comes
    big = [span for _ in range(20) for span in rag_spans(recorder)]  # 20 complete traces
    first, second = protobuf_body(children), protobuf_body(big)
    # room for the big request alone, not beside the first: the same encoder writes the spool
    receiver = start_receiver(spool_max_bytes=len(second) + len(first) // 2, trace_timeout=1)
    assert post(receiver, first, PB).status_code == 200
    response = post(receiver, second, PB)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert_up(receiver)
    stats = receiver.exporter.stats
    assert stats.spans_received - stats.spans_dropped_queue_full == len(children)  # none of the refused request
    # the first trace times out (1 s) and is written as incomplete; once its MLflow trace is stored too, its room is
    # free: the retry fits
    assert wait_for(lambda: receiver.exporter.stats.traces_written == 1, 60)
    assert post(receiver, second, PB).status_code == 200
    assert receiver.exporter.force_flush(30_000)
    traces = Counter(r.data.tags[A.TAG_TRACE_ID] for r in store.runs())
    assert len(traces) == 21 and max(traces.values()) == 1  # the 20 retried traces once each, and the first


def test_partial_success_for_spans_with_bad_ids(recorder: SpanRecorder, store: Store, start_receiver: Any) -> None:
    receiver = start_receiver()
    data = json_dict(rag_spans(recorder))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(dict(spans[0], traceId="abcd", spanId="0102030405060708"))
    response = post(receiver, json.dumps(data).encode(), JS)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert "trace_id must be 16 bytes" in response.json()["partialSuccess"]["errorMessage"]
    assert receiver.exporter.force_flush(20_000)
    assert len(store.runs()) == 1


def test_unknown_path_and_health(start_receiver: Any) -> None:
    receiver = start_receiver()
    assert httpx.post(f"{receiver.url}/v1/metrics", content=b"x", headers=PB).status_code == 404
    health = httpx.get(f"{receiver.url}/health").json()
    assert health["status"] == "ok" and health["room"] > 0
    assert health["lag"] == {  # how far behind MLflow is (issue 27): nothing waits here
        "runs_seconds": 0.0,
        "traces_waiting": 0,
        "traces_backlog_seconds": 0.0,
        "traces_sampled_out": 0,
    }


def test_json_spans_with_ids_that_are_not_hex_are_refused_alone(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    """A Collector does not retry a 400: one bad id must not lose the request's good spans (partial success)."""
    receiver = start_receiver()
    data = json_dict(rag_spans(recorder))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    good = len(spans)
    spans.append(dict(spans[0], traceId="zz" * 16))
    spans.append(dict(spans[0], spanId="0102030405060709", parentSpanId="not-hex!"))  # not a root either
    response = post(receiver, json.dumps(data).encode(), JS)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2" and "traceId 'zzzz" in partial["errorMessage"]
    assert "parentSpanId 'not-hex!' is not hex" in partial["errorMessage"]
    assert receiver.exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["span_count"] == good


@pytest.mark.slow
def test_a_request_larger_than_the_memory_bound_is_taken_whole(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    """More spans than memory holds, on an empty receiver: spooled and spilled, never "backlog is full"."""
    receiver = start_receiver(max_queue_size=1_000, run_mode="window")
    for _ in range(3_000):
        with recorder.tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER):
            pass
    response = post(receiver, protobuf_body(recorder.take()), PB)
    assert response.status_code == 200, response.content
    assert receiver.exporter.force_flush(120_000)
    assert receiver.exporter.stats.spans_written == 3_000
    receiver.exporter.shutdown()  # closes the windows: per-second points wait until their seconds settled
    steps = sum(requests_in_points(store.client(), r) for r in store.runs())
    assert steps == 3_000  # each request once in the metric points of the window run(s)


def test_json_ids_in_base64_are_taken_too(recorder: SpanRecorder, store: Store, start_receiver: Any) -> None:
    """The OTLP spec writes ids in hex; protobuf's own JSON mapping (which some senders use) writes base64."""
    from google.protobuf import json_format
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    spans = rag_spans(recorder)
    receiver = start_receiver()
    body = json.dumps(json_format.MessageToDict(encode_spans(spans))).encode()
    assert b'"traceId": "' in body and b"==" in body  # really base64
    response = post(receiver, body, JS)
    assert response.status_code == 200 and "partialSuccess" not in response.json()
    assert receiver.exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.tags[A.TAG_TRACE_ID] == format(spans[0].context.trace_id, "032x")
    assert run.data.metrics["span_count"] == len(spans)
