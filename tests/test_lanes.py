"""Two lanes (issue 27): the runs (window steps, closing aggregates) never wait for MLflow's trace store.

A real ``mlflow server`` behind a real HTTP proxy that delays only ``POST /v1/traces`` (where MLflow stores traces):
the window runs are all written and closed while most traces are still on their way; then every trace lands,
once, linked to its window's run.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow import MlflowClient
from opentelemetry.trace import SpanKind

from otel_mlflow import MLflowSpanExporter
from otel_mlflow import attributes as A
from otel_mlflow.config import Config
from otel_mlflow.testing import mlflow_server, wait_for
from tests.helpers import SpanRecorder

pytestmark = pytest.mark.server
TRACE_DELAY_SECONDS = 3.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@contextmanager
def traces_delayed(upstream: str, delay: float) -> Iterator[str]:
    """A proxy to ``upstream`` that answers ``POST /v1/traces`` ``delay`` seconds late, everything else at once."""
    host, port = upstream.removeprefix("http://").split(":")
    delayed: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/v1/traces"):
                delayed.append(time.monotonic())
                time.sleep(delay)
            connection = http.client.HTTPConnection(host, int(port), timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _forward  # noqa: N815 - http.server names

        def log_message(self, *args: object) -> None:
            pass

        def log_error(self, format: str, *args: object) -> None:
            print("proxy:", format % args)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
    assert delayed, "no trace went through the proxy: the test measured nothing"


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder(service_name="rag-api")


def test_window_runs_land_while_the_trace_store_lags(recorder: SpanRecorder, tmp_path: Path) -> None:
    with mlflow_server(tmp_path / "server") as url, traces_delayed(url, TRACE_DELAY_SECONDS) as proxy:
        exporter = MLflowSpanExporter(
            config=Config.from_env(
                env={},
                tracking_uri=proxy,
                run_mode="window",
                window_seconds=1.0,
                flush_interval=0.1,
                traces="all",  # every trace: the trace lane must fall behind
                spool_dir=str(tmp_path / "spool"),
            )
        )
        sent = 0
        try:
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
                    root.set_attribute(A.QUESTION, f"question {sent}")
                    with recorder.tracer.start_as_current_span("chat demo", kind=SpanKind.CLIENT) as chat:
                        chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "demo")
                        chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 3)
                exporter.export(recorder.take())
                sent += 1
                time.sleep(0.05)
            client = MlflowClient(url)  # requests are filed 5 s after their root ended (late children join)
            assert wait_for(lambda: client.get_experiment_by_name("llmops-rag"), 30, 0.2), exporter.stats
            experiment = client.get_experiment_by_name("llmops-rag")

            def runs_done() -> list:
                runs = client.search_runs([experiment.experiment_id])
                finished = [r for r in runs if r.info.status == "FINISHED"]
                counted = sum(int(r.data.metrics.get(A.METRIC_REQUESTS, 0)) for r in finished)
                return runs if counted == sent and len(finished) == len(runs) else []

            assert wait_for(runs_done, 60, 0.2), "the window runs were not all written and closed"
            stored_then = len(client.search_traces(locations=[experiment.experiment_id], max_results=500))
            lag = exporter.lag()
            assert stored_then < sent, f"{stored_then} of {sent} traces stored: the trace lane did not lag behind"
            assert lag.runs_seconds == 0.0 and lag.traces_waiting > 0 and lag.traces_backlog_seconds > 0, lag
            assert exporter.force_flush(180_000), "the traces did not follow"
            runs = runs_done()
            linked = [
                t.info.trace_id
                for r in runs
                for t in client.search_traces(
                    locations=[experiment.experiment_id], run_id=r.info.run_id, max_results=500
                )
            ]
            assert len(linked) == len(set(linked)) == sent, f"{len(set(linked))} traces linked of {sent}"
            stats = exporter.stats
            assert stats.traces_written >= len(runs) and stats.traces_dropped_write_failed == 0
            print(f"lanes: {sent} requests, {len(runs)} window runs closed with {stored_then} traces stored")
        finally:
            exporter.shutdown(timeout_seconds=30)


def test_a_run_lane_that_falls_behind_is_told_once_with_the_fix(
    recorder: SpanRecorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MLflow that takes no writes (nothing listens on its port): window steps fall behind by more than two windows
    and a flush interval; one warning says so and names the fix, and lag() and the OTel gauges say by how much."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_mlflow.testing import free_port

    reader = InMemoryMetricReader()
    config = Config.from_env(
        env={},
        tracking_uri=f"http://127.0.0.1:{free_port()}",
        run_mode="window",
        window_seconds=0.2,
        flush_interval=0.05,
        spool_dir=str(tmp_path / "spool"),
    )
    exporter = MLflowSpanExporter(config=config, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            pass
        exporter.export(recorder.take())
        exporter.force_flush(1_000)  # files the request at once (no 5 s grace): its window's job waits for MLflow
        assert wait_for(lambda: "runs reach MLflow" in caplog.text, 30, 0.1), caplog.text[-2000:]
        [warning] = [r.getMessage() for r in caplog.records if "runs reach MLflow" in r.getMessage()]
        assert "Scaling out" in warning and "more workers" in warning
        lag = exporter.lag()
        assert lag.runs_seconds > 2 * 0.2 + 0.05
        gauges = {
            m.name: m.data.data_points[0].value
            for m in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
            if m.name.startswith("otel_mlflow.export.") and m.name != "otel_mlflow.export.exporter.spans"
        }
        assert set(gauges) == {
            "otel_mlflow.export.runs.lag",
            "otel_mlflow.export.traces.waiting",
            "otel_mlflow.export.traces.backlog",
            "otel_mlflow.export.traces.sampled_out",
        }
        assert gauges["otel_mlflow.export.runs.lag"] > 2 * 0.2 + 0.05
    finally:
        exporter.shutdown(timeout_seconds=1)


def test_spans_waiting_on_disk_count_in_the_run_lanes_lag(recorder: SpanRecorder, tmp_path: Path) -> None:
    """The sustained-load bench found exits of 114 s while lag() said 6 s: spans spilled past the memory bound wait
    on disk before any job is made of them. Their wait counts too (no writer runs here: nothing reads them back)."""
    from otel_mlflow.export.pending.ledger import Ledger
    from otel_mlflow.export.spool.folder import OwnedSpool, spool_identity
    from otel_mlflow.export.stats import SelfTelemetry
    from otel_mlflow.mapping.run_plan import MappingOptions

    config = Config.from_env(env={}, tracking_uri=f"sqlite:///{tmp_path / 'm.db'}", max_queue_size=4)
    ledger = Ledger(
        config, MappingOptions(), SelfTelemetry(), OwnedSpool.create(tmp_path / "spool", spool_identity(config))
    )
    for _ in range(6):
        with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            pass
        assert ledger.accept(recorder.take(), time.monotonic())
    assert ledger.stats().spans_spilled == 2  # four held in memory, the rest on disk
    time.sleep(0.3)
    assert ledger.lag(time.monotonic()).runs_seconds >= 0.3  # no job yet, but spans wait
