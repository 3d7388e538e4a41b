"""gunicorn with UvicornWorker and several forked workers, zero-code: every worker exports its own
requests, none twice, and SIGTERM stops them all without deadlock."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from otel_mlflow.testing import free_port
from tests.helpers import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo

pytestmark = pytest.mark.subprocess
WORKERS = 3
REQUESTS = 60


def test_forked_workers_each_export_their_requests_once(tmp_path: Path, store: Store) -> None:
    port = free_port()
    env = demo.demo_env()
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    command = [
        str(instrument),
        sys.executable,
        "-m",
        "gunicorn",
        "api_gateway.main:app",
        "-k",
        "uvicorn.workers.UvicornWorker",
        "-w",
        str(WORKERS),
        "-b",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "20",
    ]
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen(command, cwd=demo.RAG_APP, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        demo.wait_healthy(url, proc)
        statuses = [demo.ask(url, {"question": f"q{i}", "k": 2})[0] for i in range(REQUESTS)]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)  # no deadlock: every worker flushes and exits
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
    assert statuses == [200] * REQUESTS
    output = (tmp_path / "gunicorn.log").read_text()
    runs = store.runs()
    assert runs, output[-3000:]
    trace_ids = []
    for run in runs:
        table = json.loads(store.artifact_text(run, "predictions.json"))
        trace_ids += [row[8] for row in table["data"]]
    assert len(trace_ids) == REQUESTS and len(set(trace_ids)) == REQUESTS, output[-3000:]
    assert 1 <= len(runs) <= WORKERS  # a window per worker that served requests
    assert "Traceback" not in output, output[-3000:]
