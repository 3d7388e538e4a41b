"""Test support for apps that use otel-mlflow: capture spans and MLflow writes, make no external calls.

Installed as a pytest plugin (entry point ``pytest11``), so in your tests::

    def test_answer_is_logged(otel_mlflow_capture):
        log_llm_call(model="gpt-4", prompt="hi", response="hello", tokens_used=3)
        [span] = otel_mlflow_capture.spans()
        assert span.attributes["gen_ai.request.model"] == "gpt-4"
        [run] = otel_mlflow_capture.runs()           # written to a sqlite store in tmp_path
        assert run.data.metrics["tokens_used"] == 3

For integration tests that need MLflow's REST API, :func:`mlflow_server` starts a real ``mlflow server``
on 127.0.0.1 with a sqlite store in a folder you give, and stops it afterwards.

The fixture points MLflow at a fresh sqlite store in ``tmp_path`` and gives the helper API a private
TracerProvider (the global one is left alone), with every span kept in memory as well.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_mlflow.config import Config
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.export.mlflow.server import get_or_create_experiment, healthy, make_client
from otel_mlflow.instrumentation.run_binding import add_run_stamper
from otel_mlflow.wiring import Pipeline, set_pipeline


@dataclass
class Capture:
    """What the app under test sent: spans in memory, runs in a temp MLflow store."""

    tracking_uri: str
    experiment_name: str
    memory: InMemorySpanExporter
    pipeline: Pipeline

    def spans(self) -> list[ReadableSpan]:
        """Finished spans so far."""
        return list(self.memory.get_finished_spans())

    def flush(self, timeout_seconds: float = 30.0) -> bool:
        """Wait until the MLflow store has every finished span."""
        return self.pipeline.flush(timeout_seconds)

    def runs(self) -> list[Any]:
        """Flush, then every run of the experiment, oldest first."""
        from mlflow import MlflowClient

        self.flush()
        client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is None:
            return []
        return list(client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]))


@pytest.fixture
def otel_mlflow_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Capture]:
    """A private span pipeline into a temp sqlite MLflow store; see the module docstring."""
    import mlflow

    store = tmp_path / "otel-mlflow-capture"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ARTIFACT_PATH", str(store / "artifacts"))
    config = Config.from_env(flush_interval=0.05)
    previous_uri = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    experiment_id = get_or_create_experiment(
        make_client(uri), config.experiment_name, str(store / "artifacts"), config.param_fields
    )
    mlflow.set_experiment(experiment_id=experiment_id)

    memory = InMemorySpanExporter()
    exporter = MLflowSpanExporter(config=config)
    provider = TracerProvider()
    add_run_stamper(provider)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # export() only queues: cheap on the test thread
    pipe = Pipeline(provider=provider, config=config, experiment_id=experiment_id, exporter=exporter)
    previous = set_pipeline(pipe)
    try:
        yield Capture(tracking_uri=uri, experiment_name=config.experiment_name, memory=memory, pipeline=pipe)
    finally:
        set_pipeline(previous)
        provider.shutdown()
        if mlflow.active_run() is not None:
            mlflow.end_run()
        mlflow.set_tracking_uri(previous_uri)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def mlflow_server_command(root: Path, port: int, artifacts: Path) -> list[str]:
    """``mlflow server`` on 127.0.0.1:``port``, one worker, its sqlite store in ``root`` and artifacts served from
    ``artifacts``."""
    backend = f"sqlite:///{root / 'server.db'}"
    return [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", backend, "--artifacts-destination", str(artifacts), "--workers", "1"]  # fmt: skip


@contextmanager
def mlflow_server(
    root: Path, timeout: float = 60.0, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start a real ``mlflow server`` on 127.0.0.1 with a sqlite backend; yield its URL; stop it.

    ``extra_args`` go on its command line (``["--app-name", "basic-auth"]``), ``env`` into its environment."""
    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "wb")
    command = [*mlflow_server_command(root, port, root / "server-artifacts"), *extra_args]
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=root)
    url = f"http://127.0.0.1:{port}"

    try:
        if not wait_for(lambda: healthy(url, 1.0), timeout, 0.25):
            raise RuntimeError(
                f"mlflow server did not start in {timeout}s: {(root / 'server.log').read_text()[-2000:]}"
            )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
