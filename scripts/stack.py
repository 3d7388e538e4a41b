"""The production topology, run natively on 127.0.0.1 (no Docker): PostgreSQL, an MLflow server on it with served
artifacts, ``otel-mlflow receive`` replicas each behind its own Collector (rotel), and the example RAG app under
``opentelemetry-instrument`` sending OTLP to a Collector (one app process per Collector).

Usage::

    make stack                                  # the same, for a person: prints the URLs, Ctrl-C stops it all
    python scripts/stack.py --replicas 2

    with Stack(Path("/tmp/stack"), replicas=2) as stack:   # tests/test_stack.py, bench/stack.py
        stack.app_urls, stack.mlflow_url
        stack.restart_mlflow()

PostgreSQL refuses to run as root: as root, the cluster is made and run by the ``postgres`` user
(``runuser -u postgres``) in a folder of its own under /tmp (pytest's 0700 temp folders are closed to it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
from otel_mlflow.export.mlflow.server import healthy  # noqa: E402
from otel_mlflow.testing import free_port, wait_for  # noqa: E402


def pg_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else where Debian's ``postgresql`` package puts it."""
    found = shutil.which(name) or next(
        iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (Debian: apt-get install postgresql)")
    return str(found)


@dataclass
class Service:
    """One process of the stack, its log in ``log``."""

    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", **self.env, "PATH": f"{BIN}:{os.environ['PATH']}"}
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=env,
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM to its process group, then SIGKILL past ``timeout``; its exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Postgres:
    """A throwaway PostgreSQL cluster on a free port; ``uri`` names psycopg 3, the driver MLflow 3 loads."""

    def __init__(self, fsync: bool = False) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="otel-mlflow-pg-", dir="/tmp"))
        self.port = free_port()
        self.uri = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/mlflow"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")
        self._fsync = fsync

    def start(self) -> Postgres:
        data, run = self.folder / "data", self._run
        run(pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync={'on' if self._fsync else 'off'}"
        )
        run(pg_bin("pg_ctl"), "-D", str(data), "-l", str(self.folder / "postgres.log"), "-w", "-o", options, "start")
        run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "mlflow")
        return self

    def stop(self) -> None:
        if (self.folder / "data" / "postmaster.pid").exists():
            self._run(pg_bin("pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)

    def _run(self, *argv: str) -> None:
        result = subprocess.run([*self._as, *argv], capture_output=True, text=True, cwd="/tmp")
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr[-2000:] or result.stdout[-2000:]}")


def rotel_binary() -> str:
    import rotel

    return str(Path(rotel.__file__).parent / "rotel-agent")


def rotel_command(binary: str, http_port: int, grpc_port: int, target: str, protocol: str, pid_file: Path) -> list[str]:
    """A rotel Collector taking OTLP on 127.0.0.1 (HTTP and gRPC ports) and exporting, gzip, to ``target`` over
    ``protocol`` (``http`` or ``grpc``) in 200 ms batches."""
    return [
        binary,
        "start",
        "--otlp-http-endpoint",
        f"127.0.0.1:{http_port}",
        "--otlp-grpc-endpoint",
        f"127.0.0.1:{grpc_port}",
        "--exporter",
        "otlp",
        "--otlp-exporter-protocol",
        protocol,
        "--otlp-exporter-endpoint",
        target,
        "--otlp-exporter-compression",
        "gzip",
        "--batch-timeout",
        "200ms",
        "--pid-file",
        str(pid_file),
    ]


class Stack:
    """PostgreSQL, MLflow, ``replicas`` x (receiver, Collector, app). Logs and spools under ``folder``."""

    def __init__(
        self,
        folder: Path,
        replicas: int = 2,
        experiment: str = "llmops-rag",
        receiver_env: dict[str, str] | None = None,
        backend_uri: str | None = None,
        services: list[str] | None = None,
    ) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.replicas, self.experiment = replicas, experiment
        self.receiver_env = receiver_env or {}
        self.backend_uri = backend_uri
        self.services = services or ["rag-api"] * replicas
        """Each app's service name: one name everywhere splits its windows over the replicas; one per replica is
        what the gateway's ``routing_key: service`` gives (deploy/collector-gateway-config.yaml)."""
        self.postgres: Postgres | None = None
        self.mlflow: Service | None = None
        self.mlflow_url = ""
        self.receivers: list[Service] = []
        self.collectors: list[Service] = []
        self.apps: list[Service] = []
        self.app_urls: list[str] = []
        self._exit = ExitStack()

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        if self.backend_uri is None:
            self.postgres = Postgres().start()
            self._exit.callback(self.postgres.stop)
            self.backend_uri = self.postgres.uri
        self._start_mlflow(free_port())
        for index in range(self.replicas):
            self._start_replica(index)

    def _start_mlflow(self, port: int) -> None:
        self.mlflow_url = f"http://127.0.0.1:{port}"
        self.mlflow = Service(
            "mlflow",
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                str(self.backend_uri),
                "--workers",
                "2",
                "--artifacts-destination",
                str(self.folder / "artifacts"),
            ],
            self.folder / "mlflow.log",
        ).start()
        self._ready(self.mlflow, self.mlflow_url, 120)

    def restart_mlflow(self, down_seconds: float = 0.0) -> None:
        """Stop the MLflow server (SIGTERM), wait ``down_seconds``, start it again on the same port."""
        assert self.mlflow is not None
        self.mlflow.stop()
        time.sleep(down_seconds)
        self._start_mlflow(int(self.mlflow_url.rsplit(":", 1)[1]))

    def _start_replica(self, index: int) -> None:
        receiver_port, collector_port, app_port = free_port(), free_port(), free_port()
        env = {
            "MLFLOW_TRACKING_URI": self.mlflow_url,
            "MLFLOW_EXPERIMENT_NAME": self.experiment,
            "OTEL_MLFLOW_SPOOL_DIR": str(self.folder / f"spool-{index}"),
            "OTEL_MLFLOW_REPLICA": f"receiver-{index}",
            "OTEL_MLFLOW_PARAM_FIELDS": "k",
            **self.receiver_env,
        }  # k: a column of the runs view
        receiver = Service(
            f"receiver-{index}",
            [str(BIN / "otel-mlflow"), "receive", "--port", str(receiver_port), "--grpc-port", "0"],
            self.folder / f"receiver-{index}.log",
            env,
        )
        self.receivers.append(receiver.start())
        self._ready(receiver, f"http://127.0.0.1:{receiver_port}", 60)
        collector = Service(
            f"collector-{index}",
            rotel_command(
                rotel_binary(),
                collector_port,
                free_port(),
                f"http://127.0.0.1:{receiver_port}",
                "http",
                self.folder / f"rotel-{index}.pid",
            ),
            self.folder / f"collector-{index}.log",
        )
        self.collectors.append(collector.start())
        app_env = {
            "OTEL_SERVICE_NAME": self.services[index],
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector_port}",
            "OTEL_MLFLOW_PARAM_FIELDS": "k",
        }
        app = Service(
            f"app-{index}",
            [
                str(BIN / "opentelemetry-instrument"),
                str(BIN / "uvicorn"),
                "api_gateway.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(app_port),
            ],
            self.folder / f"app-{index}.log",
            app_env,
            ROOT / "examples" / "rag_app",
        )
        self.apps.append(app.start())
        self.app_urls.append(f"http://127.0.0.1:{app_port}")
        self._ready(app, self.app_urls[-1], 60)

    def _ready(self, service: Service, url: str, timeout: float) -> None:
        """Wait until ``url`` answers ``GET /health`` (every part of the stack serves it)."""
        if not wait_for(lambda: healthy(url, 2.0) or not service.running(), timeout, 0.25) or not service.running():
            raise RuntimeError(f"{service.name} did not answer {url}/health: {service.log.read_text()[-3000:]}")

    def drain(self) -> dict[str, int | None]:
        """Stop the pipeline in order, MLflow left running: apps (they flush to their Collector), Collectors,
        receivers (they write what they hold on SIGTERM). Returns each receiver's exit status."""
        for app in self.apps:
            app.stop()
        time.sleep(1.0)  # the Collectors' batches (200 ms) leave before they stop
        for collector in self.collectors:
            collector.stop()
        return {r.name: r.stop(120) for r in self.receivers}

    def drain_spools(self) -> list[int]:
        """What a receiver pod does when it starts again on its volume: ``otel-mlflow drain`` of each replica's spool
        (spans a receiver took but could not write within SIGTERM's budget). Each command's exit status."""
        statuses = []
        for receiver in self.receivers:
            env = {**os.environ, **receiver.env, "MLFLOW_DISABLE_TELEMETRY": "true"}
            with open(receiver.log, "ab") as log:
                statuses.append(
                    subprocess.run(
                        [str(BIN / "otel-mlflow"), "drain"], env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600
                    ).returncode
                )
        return statuses

    def stop(self) -> None:
        """Everything, in order: the pipeline (:meth:`drain`), MLflow, PostgreSQL."""
        self.drain()
        if self.mlflow is not None:
            self.mlflow.stop()
        self._exit.close()


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=1, help="receiver + Collector + app sets (default 1)")
    parser.add_argument("--folder", type=Path, default=ROOT / ".stack", help="logs, spools and artifacts")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)  # Ctrl-C, even when started with SIGINT ignored (a background job)
    with Stack(args.folder, replicas=args.replicas) as stack:
        print(f"MLflow UI      {stack.mlflow_url}  (PostgreSQL backend {stack.backend_uri})")
        for index, url in enumerate(stack.app_urls):
            print(
                f"RAG app {index}      {url}  (POST /ask, POST /feedback) -> Collector -> {stack.receivers[index].name}"
            )
        print(
            f"Logs           {args.folder}\nTry: curl -s -X POST {stack.app_urls[0]}/ask "
            '-H \'content-type: application/json\' -d \'{"question": "What is RAG?", "k": 2}\'\nCtrl-C stops it all.',
            flush=True,
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            print("\nstopping (the receivers write what they hold first)...", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
