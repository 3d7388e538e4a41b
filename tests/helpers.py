"""Test helpers: real OTel spans and a real MLflow sqlite store, no mocks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer


class SpanRecorder:
    """A private TracerProvider whose finished spans are kept in memory (never the global one)."""

    def __init__(self, service_name: str = "test-service") -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer: Tracer = self.provider.get_tracer("tests")

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def take(self) -> list[ReadableSpan]:
        spans = self.spans()
        self.memory.clear()
        return spans


@dataclass
class Store:
    """A real MLflow tracking store: sqlite database and artifact folder in a temp dir."""

    root: Path
    uri: str
    artifacts: Path

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def runs(self, experiment: str = "llmops-rag") -> list[Any]:
        client = self.client()
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            return []
        return list(client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]))

    def artifact_text(self, run: Any, path: str) -> str:
        import mlflow.artifacts

        return str(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{path}"))

    def artifact_paths(self, run: Any) -> set[str]:
        base = Path(run.info.artifact_uri.replace("file://", ""))
        return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()}


_TEMPLATE: Path | None = None


def make_store(root: Path) -> Store:
    """A fresh sqlite store. The schema is created once per session and copied (saves ~1 s per test)."""
    global _TEMPLATE
    root.mkdir(parents=True, exist_ok=True)
    if _TEMPLATE is None:
        from mlflow import MlflowClient

        template_dir = Path(_session_tmp()) / "template"
        template_dir.mkdir(parents=True, exist_ok=True)
        template = template_dir / "mlflow.db"
        MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
        _TEMPLATE = template
    db = root / "mlflow.db"
    shutil.copy(_TEMPLATE, db)
    return Store(root=root, uri=f"sqlite:///{db}", artifacts=root / "artifacts")


def _session_tmp() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="otel-mlflow-tests-")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@contextmanager
def mlflow_server(root: Path, timeout: float = 60.0) -> Iterator[str]:
    """Start a real ``mlflow server`` on 127.0.0.1 with a sqlite backend; yield its URL; stop it."""
    import urllib.request

    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "server.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "mlflow", "server",
            "--host", "127.0.0.1", "--port", str(port),
            "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination", str(root / "server-artifacts"),
            "--workers", "1",
        ],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    try:
        if not wait_for(up, timeout, 0.25):
            raise RuntimeError(f"mlflow server did not start in {timeout}s: {(root / 'server.log').read_text()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
