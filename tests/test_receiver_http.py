"""OTLP/HTTP conformance of `otel-mlflow receive` with real clients: the SDK's exporter, curl, raw HTTP/1.1
(keep-alive, pipelining, chunked bodies, ``Expect: 100-continue``), slow and too many clients, and the
retry a Collector or SDK makes on 503. Every accepted span is counted in the real MLflow store."""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import h11
import httpx
import pytest
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow import attributes as A
from otel_mlflow.serve.receiver import Receiver
from tests.helpers import SpanRecorder, Store, wait_for
from tests.otlp_bodies import gzipped, json_body, protobuf_body
from tests.test_mapping import rag_trace

PB = "application/x-protobuf"


def one_trace(recorder: SpanRecorder) -> bytes:
    rag_trace(recorder)
    return protobuf_body(recorder.take())


def trace_ids(store: Store) -> list[str]:
    return [run.data.tags[A.TAG_TRACE_ID] for run in store.runs()]


class Http1:
    """One HTTP/1.1 connection to the receiver, spoken with h11 (client side) over a plain socket."""

    def __init__(self, receiver: Receiver, timeout: float = 10) -> None:
        host, port = receiver.socket.getsockname()[:2]
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.conn = h11.Connection(h11.CLIENT)
        self.host = f"{host}:{port}"

    def request(
        self,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        path: str = "/v1/traces",
        chunked: bool = False,
    ) -> None:
        fields = {"Host": self.host, "Content-Type": PB, **(headers or {})}
        if chunked:
            fields["Transfer-Encoding"] = "chunked"
        elif body is not None:
            fields["Content-Length"] = str(len(body))
        self.send(h11.Request(method="POST", target=path, headers=list(fields.items())))
        if body is not None:
            self.send(h11.Data(data=body), h11.EndOfMessage())

    def send(self, *events: Any) -> None:
        self.sock.sendall(b"".join(self.conn.send(event) or b"" for event in events))

    def event(self) -> Any:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(self.sock.recv(65536))

    def response(self) -> tuple[int, dict[str, str], bytes]:
        """The next final response, whole; the connection is then ready for the next request if it stays open."""
        event = self.event()
        while isinstance(event, h11.InformationalResponse):
            event = self.event()
        assert isinstance(event, h11.Response), event
        headers = {k.decode().lower(): v.decode() for k, v in event.headers}
        body = b""
        while not isinstance(part := self.event(), h11.EndOfMessage):
            body += part.data
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return event.status_code, headers, body

    def closed_by_server(self, within: float) -> bool:
        self.sock.settimeout(within)
        try:
            while data := self.sock.recv(65536):
                del data
            return True
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False


def test_the_sdk_http_exporter_plain_and_gzip_over_one_kept_alive_session(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    receiver = start_receiver()
    plain = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=10)
    gz = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=10, compression=Compression.Gzip)
    for exporter in (plain, gz, plain, gz):
        rag_trace(recorder)
        assert exporter.export(recorder.take()) is SpanExportResult.SUCCESS
    assert receiver.exporter.force_flush(20_000)
    assert len(set(trace_ids(store))) == 4
    assert receiver.stats["requests"] == 4 and receiver.stats["refused_requests"] == 0


@pytest.mark.parametrize("encoding", ["plain", "gzip"])
@pytest.mark.subprocess
def test_curl_with_a_chunked_body(
    encoding: str, recorder: SpanRecorder, store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver()
    bodies = {"protobuf": (one_trace(recorder), PB), "json": (_json_trace(recorder), "application/json")}
    for name, (body, media) in bodies.items():
        path = tmp_path / name
        path.write_bytes(gzipped(body) if encoding == "gzip" else body)
        headers = ["-H", f"Content-Type: {media}", "-H", "Transfer-Encoding: chunked"]
        if encoding == "gzip":
            headers += ["-H", "Content-Encoding: gzip"]
        done = subprocess.run(
            [
                "curl",
                "-sS",
                "-v",
                "--fail-with-body",
                "-X",
                "POST",
                *headers,
                "--data-binary",
                f"@{path}",
                f"{receiver.url}/v1/traces",
            ],
            capture_output=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr.decode()
        assert "> Transfer-Encoding: chunked" in done.stderr.decode()  # curl really streamed it
        assert "< Content-Type: " + media in done.stderr.decode().replace("content-type", "Content-Type")
    assert receiver.exporter.force_flush(20_000)
    assert len(set(trace_ids(store))) == 2


def _json_trace(recorder: SpanRecorder) -> bytes:
    rag_trace(recorder)
    return json_body(recorder.take())


def test_many_requests_over_one_kept_alive_connection(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    receiver = start_receiver()
    client = Http1(receiver)
    for _ in range(20):
        client.request(one_trace(recorder))
        status, headers, _ = client.response()
        assert status == 200 and headers.get("connection") != "close"
    assert receiver.exporter.force_flush(20_000)
    assert len(set(trace_ids(store))) == 20
    assert receiver.stats["requests"] == 20


def test_pipelined_requests_in_one_write(recorder: SpanRecorder, store: Store, start_receiver: Any) -> None:
    receiver = start_receiver()
    client = Http1(receiver)
    raw = b""
    for _ in range(5):
        body = one_trace(recorder)
        raw += (
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    client.sock.sendall(raw)
    answers = b""
    while answers.count(b"HTTP/1.1 ") < 5:  # the answers in order, on the same connection
        answers += client.sock.recv(65536)
    assert answers.count(b"HTTP/1.1 200 OK\r\n") == 5
    assert receiver.exporter.force_flush(20_000)
    assert len(set(trace_ids(store))) == 5


def test_expect_100_continue(recorder: SpanRecorder, store: Store, start_receiver: Any) -> None:
    receiver = start_receiver(token="t0ken")
    body = one_trace(recorder)
    client = Http1(receiver)
    expect = {"Expect": "100-continue", "Authorization": "Bearer t0ken"}
    client.request(headers={**expect, "Content-Length": str(len(body))})
    informational = client.event()
    assert isinstance(informational, h11.InformationalResponse) and informational.status_code == 100
    client.send(h11.Data(data=body), h11.EndOfMessage())
    assert client.response()[0] == 200

    refused = Http1(receiver)  # a wrong token is answered at once: no 100, the body is never asked for
    refused.request(headers={**expect, "Authorization": "Bearer nope", "Content-Length": str(len(body))})
    first = refused.event()
    assert isinstance(first, h11.Response) and first.status_code == 401
    assert refused.closed_by_server(within=10)
    assert receiver.exporter.force_flush(20_000)
    assert len(store.runs()) == 1


def test_a_chunked_body_past_the_bound_is_413_before_it_ends(store: Store, start_receiver: Any) -> None:
    receiver = start_receiver(max_body_bytes=100_000)
    client = Http1(receiver)
    client.request(chunked=True)
    for _ in range(4):  # 128 KiB, and the body never ends
        client.send(h11.Data(data=b"\x0a" * 32_768))
    status, headers, body = client.response()
    assert status == 413 and "over the limit of 100000" in status_pb2.Status.FromString(body).message
    assert headers["connection"] == "close"
    assert client.closed_by_server(within=10)
    assert httpx.get(f"{receiver.url}/health").json()["status"] == "ok"
    assert receiver.stats["accepted_spans"] == 0


def test_a_declared_length_past_the_bound_is_413_without_reading(start_receiver: Any) -> None:
    receiver = start_receiver(max_body_bytes=100_000)
    client = Http1(receiver)
    client.request(headers={"Content-Length": "50000000"})  # headers only: the body is never sent
    status, headers, _ = client.response()
    assert status == 413 and headers["connection"] == "close"
    assert client.closed_by_server(within=10)


def test_slow_clients_do_not_block_others_and_are_cut_off(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    """300 connections trickle header lines, 20 trickle a body, 20 say nothing: a normal client and /health
    are served at once all along, and every slow one is closed by its deadline, which trickling does not move."""
    receiver = start_receiver(receiver={"read_timeout": 5, "max_connections_per_client": 1000})  # all held: timed out
    host, port = receiver.socket.getsockname()[:2]
    header_tricklers = [socket.create_connection((host, port), timeout=10) for _ in range(300)]
    body_tricklers = [socket.create_connection((host, port), timeout=10) for _ in range(20)]
    silent = [socket.create_connection((host, port), timeout=10) for _ in range(20)]
    for sock in body_tricklers:
        sock.sendall(
            f"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: {PB}\r\nContent-Length: 1000\r\n\r\n".encode()
        )
    stop = threading.Event()

    def trickle() -> None:
        for sock in header_tricklers:
            sock.sendall(b"POST /v1/traces HTTP/1.1\r\n")
        line = 0
        while not stop.is_set():
            for sock in header_tricklers + body_tricklers:
                try:
                    sock.sendall(f"X-Slow-{line}: 1\r\n".encode() if sock in header_tricklers else b"\n")
                except OSError:
                    pass  # closed by the receiver
            line += 1
            stop.wait(0.5)

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        stop.wait(1)
        for _ in range(3):  # served promptly while 340 connections hang on
            response = httpx.post(
                f"{receiver.url}/v1/traces", content=one_trace(recorder), headers={"Content-Type": PB}, timeout=2
            )
            assert response.status_code == 200
            assert httpx.get(f"{receiver.url}/health", timeout=2).status_code == 200
        held = receiver.stats  # all of that while every slow connection was still open
        assert held["connections_timed_out"] == 0 and held["connections_open"] >= 340
        slow = header_tricklers + body_tricklers + silent
        assert wait_for(
            lambda: receiver.stats["connections_timed_out"] + receiver.stats["refused_requests"] >= len(slow), 30
        )
        for sock in slow:
            sock.settimeout(10)
            try:
                data = sock.recv(65536)
                while chunk := sock.recv(65536):
                    data += chunk
            except ConnectionResetError:
                data = b""
            assert data == b"" or data.startswith(b"HTTP/1.1 408")  # closed, or told the body was too slow
    finally:
        stop.set()
        thread.join()
        for sock in header_tricklers + body_tricklers + silent:
            sock.close()
    stats = receiver.stats
    assert stats["connections_timed_out"] >= 320  # the header tricklers and the silent ones
    assert stats["refused_requests"] == 20  # the body tricklers: 408
    assert receiver.exporter.force_flush(20_000)
    assert len(store.runs()) == 3


def test_connections_past_the_cap_get_503_with_retry_after(recorder: SpanRecorder, start_receiver: Any) -> None:
    """A connection past the cap is answered and closed at once, before anything is read: it holds nothing (issue 26,
    item 4: they were kept open, and only their requests got 503)."""
    receiver = start_receiver(receiver={"max_connections": 5})
    host, port = receiver.socket.getsockname()[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(5)]
    assert wait_for(lambda: receiver.stats["connections_open"] == 5, 10)
    response = httpx.post(f"{receiver.url}/v1/traces", content=one_trace(recorder), headers={"Content-Type": PB})
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "too many connections open" in response.text
    extra = socket.create_connection((host, port), timeout=10)  # says nothing: still answered, and closed
    assert extra.recv(200).startswith(b"HTTP/1.1 503") and extra.recv(200) == b""
    assert receiver.stats["connections_open"] == 5
    for sock in idle:
        sock.close()
    assert wait_for(lambda: receiver.stats["connections_open"] == 0, 10)
    response = httpx.post(f"{receiver.url}/v1/traces", content=one_trace(recorder), headers={"Content-Type": PB})
    assert response.status_code == 200


def test_one_client_cannot_take_every_connection(recorder: SpanRecorder, start_receiver: Any) -> None:
    """Issue 26, item 13: 1,000 idle connections from one client made every other client's POST 503."""
    receiver = start_receiver(receiver={"max_connections": 50, "max_connections_per_client": 10})
    host, port = receiver.socket.getsockname()[:2]
    idle = [socket.create_connection((host, port), timeout=10) for _ in range(60)]  # one client, past both caps
    try:
        assert wait_for(lambda: receiver.stats["connections_open"] == 10, 10)
        other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
        response = other.post(f"{receiver.url}/v1/traces", content=one_trace(recorder), headers={"Content-Type": PB})
        assert response.status_code == 200
    finally:
        for sock in idle:
            sock.close()


def test_the_sdk_exporter_retries_a_503_after_retry_after_and_the_spans_are_written_once(
    recorder: SpanRecorder, store: Store, start_receiver: Any
) -> None:
    """What a Collector's otlphttp exporter does too: 503 with Retry-After is retried after that delay."""
    rag_trace(recorder)
    children = [s for s in recorder.take() if s.parent is not None]  # wait for a root that never comes
    big = []
    for _ in range(20):
        rag_trace(recorder)
        big += recorder.take()
    first = protobuf_body(children)
    receiver = start_receiver(spool_max_bytes=len(protobuf_body(big)) + len(first) // 2, trace_timeout=1)
    assert httpx.post(f"{receiver.url}/v1/traces", content=first, headers={"Content-Type": PB}).status_code == 200
    sdk = OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=30)
    assert sdk.export(big) is SpanExportResult.SUCCESS  # refused (503) while the first trace waits, then taken
    assert receiver.stats["refused_requests"] >= 1 and receiver.stats["requests"] >= 3
    assert receiver.exporter.force_flush(30_000)
    ids = trace_ids(store)
    assert len(ids) == 21 and len(set(ids)) == 21  # the 20 retried traces once each, and the first


@pytest.mark.slow
def test_health_and_small_requests_are_answered_while_a_large_body_decodes(
    recorder: SpanRecorder, start_receiver: Any
) -> None:
    """A large body is decoded on a worker thread: the event loop goes on serving everyone else meanwhile."""
    for _ in range(6_000):
        rag_trace(recorder)
    large = json_body(recorder.take())  # 12,000 spans of OTLP JSON: seconds of decoding
    receiver = start_receiver(max_body_bytes=64 << 20, max_queue_size=100_000, run_mode="window")
    outcome: list[int] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            httpx.post(
                f"{receiver.url}/v1/traces", content=large, headers={"Content-Type": "application/json"}, timeout=120
            ).status_code
        )
    )
    thread.start()
    assert wait_for(lambda: receiver.stats["requests"] == 1, 30)
    answered_meanwhile = small_posts = 0
    while thread.is_alive():
        health = httpx.get(f"{receiver.url}/health", timeout=5)
        small = httpx.post(
            f"{receiver.url}/v1/traces", content=one_trace(recorder), headers={"Content-Type": PB}, timeout=5
        )
        assert health.status_code == small.status_code == 200
        small_posts += 1
        answered_meanwhile += thread.is_alive()
    thread.join()
    assert outcome == [200]
    assert answered_meanwhile >= 3, answered_meanwhile
    assert receiver.stats["accepted_spans"] == 12_000 + 2 * small_posts
