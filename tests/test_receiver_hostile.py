"""Hostile clients cost them, not the receiver (issue 26, item 4): 1,100 idle connections under the common soft
limit of 1,024 open files turned the spool off for good, then 100 of 100 acknowledged spans died with a SIGKILL.

A real `otel-mlflow receive` process started with `ulimit -n 1024`, real sockets, a real sqlite store.
"""

from __future__ import annotations

import signal
import socket
from pathlib import Path

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

from tests.helpers import SpanRecorder, Store, free_port, receiver_process, wait_for
from tests.test_mapping import rag_trace

pytestmark = pytest.mark.subprocess
PB = {"Content-Type": "application/x-protobuf"}


def test_idle_connections_neither_turn_the_spool_off_nor_lose_what_was_acknowledged(
    tmp_path: Path, store: Store, recorder: SpanRecorder
) -> None:
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": store.uri, "OTEL_MLFLOW_RUN_MODE": "trace", "OTEL_MLFLOW_LINK_TRACES": "false",
           "OTEL_MLFLOW_SPOOL_DIR": str(tmp_path / "spool")}  # fmt: skip
    proc = receiver_process(env, tmp_path, port, open_files=1024)
    idle = []
    try:
        for _ in range(1100):  # from 127.0.0.1: one client holding as many connections as it can
            idle.append(socket.create_connection(("127.0.0.1", port)))
        turned_away = idle[-1].recv(200)  # past its per-client cap: answered and closed at once, not held
        assert turned_away.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in turned_away
        acknowledged = 0
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
        for _ in range(100):  # another client
            rag_trace(recorder)
            body = encode_spans(recorder.take()).SerializeToString()
            response = other.post(f"http://127.0.0.1:{port}/v1/traces", content=body, headers=PB)
            assert response.status_code in (200, 503), response.text
            acknowledged += response.status_code == 200
        assert acknowledged == 100
        assert other.get(f"http://127.0.0.1:{port}/health").status_code == 200
    finally:
        for sock in idle:
            sock.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = (tmp_path / "receiver.log").read_text()
    assert "cannot use its spool" not in log and log.count("out of system resource") <= 1, log[-3000:]
    restarted = receiver_process(env, tmp_path, port)  # the next start writes what the killed one acknowledged
    try:
        assert wait_for(lambda: len(store.runs()) == 100, 180), len(store.runs())
    finally:
        restarted.terminate()
        restarted.wait(60)


def test_a_receiver_whose_spool_is_off_answers_503_never_200(tmp_path: Path, recorder: SpanRecorder) -> None:
    """Issue 26, item 4: with its spool off after a disk failure, the receiver answered 200 for spans it kept in
    memory only (lost with the process). It now refuses them (the sender keeps and retries them) and /health fails."""
    port = free_port()
    env = {"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}", "OTEL_MLFLOW_SPOOL_DIR": str(tmp_path / "spool")}
    proc = receiver_process(env, tmp_path, port, file_size=256 << 10)  # the spool's first big batch cannot be written
    try:
        with recorder.tracer.start_as_current_span("big") as span:
            span.set_attribute("payload", "x" * (600 << 10))  # past what the spool's file may grow by
        url = f"http://127.0.0.1:{port}/v1/traces"
        big_request = httpx.post(url, content=encode_spans(recorder.take()).SerializeToString(), headers=PB, timeout=30)
        rag_trace(recorder)
        small = httpx.post(url, content=encode_spans(recorder.take()).SerializeToString(), headers=PB, timeout=30)
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert (big_request.status_code, small.status_code) == (503, 503), (big_request.text, small.text)
    assert big_request.headers["retry-after"] == "5"
    assert health.status_code == 503 and "spool off" in health.json()["status"]
