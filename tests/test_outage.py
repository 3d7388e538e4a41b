"""MLflow down for ~30 s under a load of requests against the example app (a real `mlflow server` and a
real uvicorn app): requests keep succeeding at the same latency, spans made during the outage are written
after the restart, and nothing is written twice."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_mlflow.export.mlflow.server import healthy
from otel_mlflow.testing import free_port, mlflow_server_command, wait_for
from tests.helpers import requests_in_points

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo

pytestmark = [pytest.mark.server, pytest.mark.subprocess]
OUTAGE_SECONDS = 30


def start_server(root: Path, port: int) -> subprocess.Popen[bytes]:
    command = mlflow_server_command(root, port, root / "artifacts")
    return subprocess.Popen(command, stdout=open(root / "server.log", "ab"), stderr=subprocess.STDOUT)


def timed_ask(url: str, i: int) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = demo.ask(url, {"question": f"question {i}", "k": 2})
    return status, (time.perf_counter() - started) * 1000


def test_mlflow_outage_loses_nothing_and_never_slows_requests(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    server_port, app_port = free_port(), free_port()
    mlflow_url, app_url = f"http://127.0.0.1:{server_port}", f"http://127.0.0.1:{app_port}"
    server = start_server(tmp_path, server_port)
    assert wait_for(lambda: healthy(mlflow_url, 1.0), 60, 0.25), (tmp_path / "server.log").read_text()[-2000:]
    env = demo.demo_env()
    env.pop("MLFLOW_ARTIFACT_PATH", None)  # the server keeps the artifacts
    env.update(
        {
            "MLFLOW_TRACKING_URI": mlflow_url,
            "OTEL_MLFLOW_FLUSH_INTERVAL": "0.2",
            "OTEL_MLFLOW_RETRY_TIMEOUT": "120",
            "OTEL_MLFLOW_WINDOW_SECONDS": "3600",
        }
    )
    app = demo.start_app(env, app_port, tmp_path / "app.log")
    sent = 0
    try:
        demo.wait_healthy(app_url, app)
        before = [timed_ask(app_url, sent + i) for i in range(40)]
        sent += 40
        server.terminate()
        server.wait(30)
        outage_started = time.monotonic()
        during: list[tuple[int, float]] = []
        while time.monotonic() - outage_started < OUTAGE_SECONDS:
            during.append(timed_ask(app_url, sent))
            sent += 1
            time.sleep(0.05)
        server = start_server(tmp_path, server_port)
        assert wait_for(lambda: healthy(mlflow_url, 1.0), 60, 0.25)
        after = [timed_ask(app_url, sent + i) for i in range(20)]
        sent += 20
    finally:
        if app.poll() is None:
            demo.stop(app)
    try:
        statuses = [s for s, _ in before + during + after]
        assert statuses == [200] * sent
        median_before = statistics.median(ms for _, ms in before)
        median_during = statistics.median(ms for _, ms in during)
        # a request that waited on MLflow would wait for its retries (seconds): none does
        assert median_during < median_before + 100, (median_before, median_during)
        client = MlflowClient(tracking_uri=mlflow_url)
        experiment = client.get_experiment_by_name("llmops-rag")
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 1, [r.info.run_name for r in runs]  # one window, created once
        [run] = runs
        assert run.data.metrics["request_count"] == sent
        table = json.loads(
            Path(client.download_artifacts(run.info.run_id, "predictions.json", str(tmp_path))).read_text()
        )
        trace_ids = [row[8] for row in table["data"]]
        assert len(trace_ids) == sent and len(set(trace_ids)) == sent  # every request once, none twice
        assert requests_in_points(client, run) == sent
        print(
            f"outage: {sent} requests ({len(during)} during {OUTAGE_SECONDS}s down), all written once; "
            f"median latency {median_before:.1f} ms before, {median_during:.1f} ms during"
        )
    finally:
        server.terminate()
        server.wait(30)
