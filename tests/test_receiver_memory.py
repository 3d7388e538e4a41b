"""The receiver's memory stays bounded under hostile volume: big array attributes, many tiny spans.

A real `otel-mlflow receive` process; its peak resident memory (VmHWM) is read from /proc. MLflow is
unreachable, so everything accepted piles up: in memory up to the bound, on disk past it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.helpers import free_port, receiver_process

pytestmark = pytest.mark.subprocess
PB = {"Content-Type": "application/x-protobuf"}
MEMORY_BOUND = 32 << 20


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing")


def start(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
        "OTEL_MLFLOW_RUN_MODE": "trace",
        "OTEL_MLFLOW_MAX_QUEUE_BYTES": str(MEMORY_BOUND),
        "OTEL_MLFLOW_SPOOL_DIR": str(tmp_path / "spool"),
        "OTEL_MLFLOW_EXIT_TIMEOUT": "1",
    }
    return receiver_process(env, tmp_path, port), f"http://127.0.0.1:{port}"


def request(spans: int, array_items: int = 0, trace_seed: int = 1) -> bytes:
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    for i in range(spans):
        span = scope.spans.add(
            name="s",
            trace_id=(trace_seed * 1_000_003 + i + 1).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            start_time_unix_nano=1,
            end_time_unix_nano=2,
        )
        if array_items:
            values = AnyValue()
            values.array_value.values.extend(AnyValue(string_value=f"{n:08d}" + "x" * 92) for n in range(array_items))
            span.attributes.append(KeyValue(key="big.array", value=values))
    return req.SerializeToString()


def test_array_attributes_are_counted_and_memory_stays_bounded(tmp_path: Path) -> None:
    proc, url = start(tmp_path)
    try:
        before = memory_kb(proc.pid, "VmRSS")
        body = request(1, array_items=40_000)  # one span holding a 4 MB array of strings
        for n in range(60):  # 240 MB of arrays in all
            response = httpx.post(
                f"{url}/v1/traces", content=body.replace(b"\x00" * 8, n.to_bytes(8, "big"), 1), headers=PB, timeout=60
            )
            assert response.status_code == 200, response.text
        growth_mb = (memory_kb(proc.pid, "VmHWM") - before) / 1024
    finally:
        proc.kill()
        proc.wait()
    print(f"arrays: peak RSS growth {growth_mb:.0f} MB for 240 MB of arrays, memory bound {MEMORY_BOUND >> 20} MiB")
    assert growth_mb < 200, f"peak RSS grew {growth_mb:.0f} MB: the arrays were held in memory"


def test_many_tiny_spans_are_refused_before_they_are_built(tmp_path: Path) -> None:
    proc, url = start(tmp_path)
    try:
        before = memory_kb(proc.pid, "VmRSS")
        body = request(300_000)  # ~12 MB: 300,000 spans, ~300 MB as span objects
        response = httpx.post(f"{url}/v1/traces", content=body, headers=PB, timeout=60)
        growth_mb = (memory_kb(proc.pid, "VmHWM") - before) / 1024
        assert response.status_code == 413
        assert "send smaller batches" in status_pb2.Status.FromString(response.content).message
        assert httpx.post(f"{url}/v1/traces", content=request(1000), headers=PB, timeout=60).status_code == 200
    finally:
        proc.kill()
        proc.wait()
    print(f"tiny spans: peak RSS growth {growth_mb:.0f} MB for a {len(body) >> 20} MB body of 300,000 spans")
    assert growth_mb < 150, f"peak RSS grew {growth_mb:.0f} MB"


def test_grpc_refuses_a_wrong_token_before_it_reads_the_message(tmp_path: Path) -> None:
    """Issue 26, item 10: 64 concurrent 14 MiB exports with a wrong token took the receiver from 271 to 700-960 MB:
    grpcio received and parsed each before the token was checked. Now the check comes first."""
    from concurrent.futures import ThreadPoolExecutor

    import grpc

    from otel_mlflow.serve.grpc_receiver import SERVICE

    grpc_port = free_port()
    env = {"OTEL_MLFLOW_RECEIVER_TOKEN": "right-token", "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}",
           "OTEL_MLFLOW_SPOOL_DIR": str(tmp_path / "spool"), "OTEL_MLFLOW_EXIT_TIMEOUT": "1"}  # fmt: skip
    proc = receiver_process(env, tmp_path, free_port(), grpc_port=grpc_port)
    body = request(1, array_items=140_000)  # one 14 MiB message
    try:
        before = memory_kb(proc.pid, "VmRSS")
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.max_send_message_length", 1 << 30)]) as ch:
            export = ch.unary_unary(f"/{SERVICE}/Export", request_serializer=None, response_deserializer=None)

            def send(_: int) -> grpc.StatusCode:
                try:
                    export(body, timeout=60, metadata=(("authorization", "Bearer wrong"),))
                except grpc.RpcError as exc:
                    return exc.code()
                return grpc.StatusCode.OK

            with ThreadPoolExecutor(32) as pool:
                codes = list(pool.map(send, range(32)))
        growth_mb = (memory_kb(proc.pid, "VmHWM") - before) / 1024
    finally:
        proc.kill()
        proc.wait()
    assert set(codes) == {grpc.StatusCode.UNAUTHENTICATED}
    print(f"wrong token: peak RSS growth {growth_mb:.0f} MB for 32 x {len(body) >> 20} MiB messages")
    assert growth_mb < 150, f"peak RSS grew {growth_mb:.0f} MB: the messages were read before the token was checked"
