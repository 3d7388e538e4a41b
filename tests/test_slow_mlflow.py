"""A slow MLflow (a local proxy adds 200 ms to every answer): export() stays instant, the memory held
stays within OTEL_MLFLOW_MAX_QUEUE_SIZE (the rest waits on disk), and past the spool's disk bound
requests are refused and counted."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config
from otel_mlflow.testing import mlflow_server, wait_for
from tests.helpers import SpanRecorder

pytestmark = pytest.mark.server
DELAY_SECONDS = 0.2


def _pipe(source: socket.socket, target: socket.socket, delay: float) -> None:
    try:
        while data := source.recv(65536):
            if delay:
                time.sleep(delay)
            target.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def slow_proxy(upstream_port: int) -> Iterator[int]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", upstream_port))
            except OSError:
                client.close()
                continue
            threading.Thread(target=_pipe, args=(client, upstream, 0), daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client, DELAY_SECONDS), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


def test_slow_mlflow_never_slows_export_and_memory_stays_bounded(tmp_path: Path) -> None:
    recorder = SpanRecorder()
    with mlflow_server(tmp_path / "server") as url:
        proxy = slow_proxy(int(url.rsplit(":", 1)[1]))
        port = next(proxy)
        exporter = MLflowSpanExporter(
            config=Config.from_env(
                env={},
                tracking_uri=f"http://127.0.0.1:{port}",
                run_mode="window",
                flush_interval=0.05,
                max_queue_size=100,
                spool_max_bytes=400_000,
                retry_timeout=120,
                spool_dir=str(tmp_path / "spool"),
            )
        )
        export_ms, held = [], []
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
                    with recorder.tracer.start_as_current_span("chat") as chat:
                        chat.set_attribute("gen_ai.request.model", "gpt-4")
                        chat.set_attribute("gen_ai.prompt", "p" * 2000)
                spans = recorder.take()
                started = time.perf_counter()
                exporter.export(spans)
                export_ms.append((time.perf_counter() - started) * 1000)
                held.append(exporter.memory_held()[0])
                time.sleep(0.002)
            wait_for(lambda: exporter.stats.spans_written > 0, 60)  # slowly, but it writes
            stats = exporter.stats
        finally:
            exporter.shutdown(timeout_seconds=1)
            next(proxy, None)
    export_ms.sort()
    # every MLflow answer takes at least DELAY_SECONDS: an export that waited on MLflow would show it
    assert export_ms[int(len(export_ms) * 0.99)] < DELAY_SECONDS * 1000 / 2, export_ms[-5:]
    assert max(held) <= 100
    assert stats.spans_spilled > 0  # past the memory bound the spans wait on disk, not in memory
    print(
        f"slow MLflow: {len(export_ms)} exports, median {export_ms[len(export_ms) // 2]:.3f} ms, "
        f"p99 {export_ms[int(len(export_ms) * 0.99)]:.3f}"
    )
    assert stats.spans_dropped_queue_full > 0  # past the disk bound: refused and counted, not hoarded
    assert stats.spans_written > 0  # it still writes, slowly
    print(
        f"slow MLflow: {len(export_ms)} exports, median {export_ms[len(export_ms) // 2]:.3f} ms, "
        f"held at most {max(held)} spans, {stats.spans_written} written, {stats.spans_dropped_queue_full} dropped"
    )
