"""`otel-mlflow doctor` against a good store, a dead server, a real server and a busy port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Store, free_port, mlflow_server

pytestmark = pytest.mark.subprocess  # each test runs `otel-mlflow doctor`


def doctor(env_updates: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", **env_updates})
    command = [str(Path(sys.executable).with_name("otel-mlflow")), "doctor", "--receiver-port", str(free_port()), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_good_sqlite_store(store: Store) -> None:
    result = doctor({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_EXPERIMENT_NAME": "fresh"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok   tracking store: {store.uri} answers" in result.stdout
    assert "'fresh' does not exist yet; the first write creates it" in result.stdout
    assert "all checks passed" in result.stdout


def test_doctor_in_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    """With no MLFLOW_TRACKING_URI the store is ./mlflow.db: doctor says it is not there yet and leaves no file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "OTEL_MLFLOW_SPOOL_DIR": str(tmp_path / "spool")})
    command = [str(Path(sys.executable).with_name("otel-mlflow")), "doctor", "--receiver-port", str(free_port())]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlflow.db does not exist yet; the first write creates it" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_names_the_uri_and_the_fix() -> None:
    # a password holding "@" (masked past its first @, not to it) and a token in the query string
    uri = f"http://admin:hun@ter2@127.0.0.1:{free_port()}/?token=QUERYSECRET"
    result = doctor({"MLFLOW_TRACKING_URI": uri, "MLFLOW_TRACKING_TOKEN": "tok-secret"})
    assert result.returncode == 1
    assert "FAIL tracking store: http://admin:[redacted]@127.0.0.1" in result.stdout
    assert "fix: start it (`mlflow server" in result.stdout
    for secret in ("hun@", "ter2", "QUERYSECRET", "tok-secret"):
        assert secret not in result.stdout + result.stderr, secret
    assert "MLFLOW_TRACKING_TOKEN      *** (set)" in result.stdout or "MLFLOW_TRACKING_TOKEN" in result.stdout


def test_bad_setting_is_reported() -> None:
    result = doctor({"OTEL_MLFLOW_RUN_MODE": "hourly"})
    assert result.returncode == 1
    assert "OTEL_MLFLOW_RUN_MODE='hourly' is not a run mode" in result.stdout


def test_busy_receiver_port_is_a_failure_with_a_fix(store: Store) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
        env.update({"MLFLOW_DISABLE_TELEMETRY": "true", "MLFLOW_TRACKING_URI": store.uri})
        result = subprocess.run(
            [str(Path(sys.executable).with_name("otel-mlflow")), "doctor", "--receiver-port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is in use" in result.stdout and "--port <another>" in result.stdout


@pytest.mark.server
def test_real_server_reports_v1_traces(tmp_path: Path) -> None:
    with mlflow_server(tmp_path / "server") as url:
        result = doctor({"MLFLOW_TRACKING_URI": url})
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"ok   /v1/traces: {url}/v1/traces accepts OTLP traces" in result.stdout


def test_spool_waiting_spans_are_reported_with_the_drain_command(store: Store, tmp_path: Path) -> None:
    """A process killed with spans in its spool: doctor says how many wait, drain writes them."""
    env = {
        "MLFLOW_TRACKING_URI": store.uri,
        "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
        "OTEL_MLFLOW_RUN_MODE": "trace",
    }
    spooler = (
        "import os, signal\nfrom opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\nfrom otel_mlflow import MLflowSpanExporter\n"
        "e = MLflowSpanExporter(max_queue_size=1)\np = TracerProvider(shutdown_on_exit=False)\n"
        "p.add_span_processor(SimpleSpanProcessor(e))\n"
        "[p.get_tracer('t').start_span(f'job {i}').end() for i in range(5)]\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", spooler], env={**os.environ, **env}, cwd=tmp_path, timeout=120)
    assert killed.returncode == -9
    report = doctor(env)
    assert "ok   spool:" in report.stdout and "5 span(s) waiting (write them: otel-mlflow drain)" in report.stdout
    drained = subprocess.run(
        [str(Path(sys.executable).with_name("otel-mlflow")), "drain"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert drained.returncode == 0, drained.stderr
    assert "5 span(s) written, 0 left" in drained.stderr
    assert len(store.runs()) == 5
    assert "0 span(s) waiting" in doctor(env).stdout
