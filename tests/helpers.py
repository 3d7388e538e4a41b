"""Test helpers: real OTel spans and a real MLflow sqlite store, no mocks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
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

from otel_mlflow.testing import free_port, mlflow_server, wait_for

__all__ = [
    "SpanRecorder",
    "Store",
    "free_port",
    "make_store",
    "mlflow_server",
    "receiver_process",
    "rotel_binary",
    "rotel_collector",
    "spooled_span_count",
    "wait_for",
]


class SpanRecorder:
    """A private TracerProvider whose finished spans are kept in memory (never the global one)."""

    def __init__(self, service_name: str = "test-service", resource: dict[str, Any] | None = None) -> None:
        self.memory = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name, **(resource or {})}))
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
        return list(
            client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"], max_results=50_000)
        )  # MLflow's default page is 1,000 runs

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


def spooled_span_count(folder: str | Path | None) -> int:
    """Spans still waiting in every spool file of ``folder``."""
    from otel_mlflow.export.spool.folder import spooled_spans

    assert folder is not None, "this exporter has no spool"
    return spooled_spans(folder)


def receiver_process(
    env: dict[str, str],
    cwd: Path,
    port: int,
    grpc_port: int = 0,
    open_files: int | None = None,
    file_size: int | None = None,
) -> subprocess.Popen[bytes]:
    """A real ``otel-mlflow receive`` on 127.0.0.1:``port`` (OTLP/gRPC on ``grpc_port``, 0: off) with ``env``
    added, answering ``/health``; its stderr goes to ``cwd / "receiver.log"``. ``open_files``: the soft limit of
    open files it starts with (``ulimit -n``); ``file_size``: the largest file it may write (``ulimit -f``)."""
    import resource

    import httpx

    def limit() -> None:
        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        if file_size is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails (EFBIG) instead of killing
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    log = cwd / "receiver.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_mlflow", "receive", "--port", str(port), "--grpc-port", str(grpc_port)],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab"),
        preexec_fn=limit,
    )

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    assert wait_for(up, 60), log.read_text()[-2000:]
    return proc


def rotel_binary() -> Path:
    """The rotel collector's binary (a real OpenTelemetry collector; the dev extra installs it)."""
    import pytest

    try:
        import rotel
    except ImportError:
        pytest.skip("the rotel collector is not installed (pip install rotel; the dev extra installs it)")
    binary = Path(rotel.__file__).parent / "rotel-agent"
    if not binary.exists():
        pytest.skip(f"the rotel package has no collector binary for this platform ({binary} is missing)")
    return binary


@contextmanager
def rotel_collector(
    folder: Path, target: str, protocol: str = "http", grpc_port: int | None = None
) -> Iterator[tuple[int, int]]:
    """A real collector (rotel) receiving OTLP on 127.0.0.1 and exporting to ``target`` over ``protocol`` (http
    or grpc, gzip); yields its (OTLP/HTTP port, OTLP/gRPC port), stops it after. Its log: ``folder/rotel.log``."""
    import socket

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from stack import rotel_command

    http_port, grpc_port = free_port(), grpc_port or free_port()
    log = open(folder / "rotel.log", "wb")
    proc = subprocess.Popen(
        rotel_command(str(rotel_binary()), http_port, grpc_port, target, protocol, folder / "rotel.pid"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", http_port)) == 0

    try:
        assert wait_for(listening, 30), (folder / "rotel.log").read_text()
        yield http_port, grpc_port
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def requests_in_points(client: Any, run: Any) -> int:
    """The requests a window run's metric points stand for, each point once: a ``latency_ms`` step per request, or
    (``otel_mlflow.steps=second``) the ``requests.1s`` counts. Fails when a step was logged twice."""
    from otel_mlflow import attributes as A

    per_second = run.data.tags.get(A.TAG_STEPS) == "second"
    key = A.METRIC_PER_SECOND["count"] if per_second else A.METRIC_LATENCY
    history = client.get_metric_history(run.info.run_id, key)
    steps = [m.step for m in history]
    assert len(steps) == len(set(steps)), f"{key}: a step logged twice in run {run.info.run_id}"
    return int(sum(m.value for m in history)) if per_second else len(history)
