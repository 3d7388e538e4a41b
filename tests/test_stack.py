"""The production topology, run natively: PostgreSQL-backed MLflow, two `otel-mlflow receive` replicas each behind a
real Collector (rotel), the example app under `opentelemetry-instrument` (one process per Collector). Every request
must be in MLflow exactly once: window runs, their steps and predictions rows, linked traces; MLflow restarted once."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import pytest

from otel_mlflow import attributes as A
from tests.helpers import requests_in_points, rotel_binary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "scripts"))
import demo  # noqa: E402
from stack import Stack  # noqa: E402

pytestmark = [pytest.mark.subprocess, pytest.mark.server]
REQUESTS = 240


def test_every_request_once_through_collectors_two_receivers_and_a_restarted_mlflow(tmp_path: Path) -> None:
    rotel_binary()
    from mlflow import MlflowClient

    with Stack(tmp_path / "stack", replicas=2) as stack:
        sent: dict[str, str] = {}  # question -> trace id
        for i in range(REQUESTS):
            if i == REQUESTS // 2:
                stack.restart_mlflow(down_seconds=3)  # the receivers keep taking spans; their spools hold them
            question = f"question {i}: what is RAG?"
            status, body, trace_id = demo.post(f"{stack.app_urls[i % 2]}/ask", {"question": question, "k": 1 + i % 3})
            assert status == 200 and trace_id, body
            sent[question] = trace_id
        statuses = stack.drain()  # SIGTERM: 20 s to write; what is left stays in each replica's spool ...
        assert statuses == {"receiver-0": 0, "receiver-1": 0}, [r.log.read_text()[-2000:] for r in stack.receivers]
        assert stack.drain_spools() == [0, 0]  # ... and is written by the next start on that volume, once
        client = MlflowClient(stack.mlflow_url)
        experiment = client.get_experiment_by_name("llmops-rag")
        runs = client.search_runs([experiment.experiment_id], max_results=1000)
        assert runs and all(r.data.tags.get("otel_mlflow.run_mode") == "window" for r in runs)
        assert all(r.info.status == "FINISHED" for r in runs), (
            [(r.info.run_name, r.info.status, r.data.tags.get("otel_mlflow.write_error")) for r in runs],
            [r.log.read_text()[-3000:] for r in stack.receivers],
        )
        assert sum(r.data.metrics["request_count"] for r in runs) == REQUESTS
        rows: Counter[str] = Counter()
        decided: dict[str, str] = {}  # trace id -> the trace policy's decision its row says (adaptive: the default)
        steps = 0
        for run in runs:
            table = json.loads(
                Path(client.download_artifacts(run.info.run_id, "predictions.json", str(tmp_path))).read_text()
            )
            columns = table["columns"]
            rows.update(row[columns.index("question")] for row in table["data"])
            decided.update((row[columns.index("trace_id")], row[columns.index("trace")]) for row in table["data"])
            steps += requests_in_points(client, run)
        assert rows == Counter(sent.keys()) and steps == REQUESTS  # each request once: one row, one step
        traces = []
        for run in runs:
            traces += client.search_traces(
                locations=[experiment.experiment_id], run_id=run.info.run_id, max_results=500
            )
        linked = Counter(t.info.trace_id for t in traces)
        assert set(linked.values()) == {1}  # none twice
        # each trace stored exactly when its row says so (past the store's pace, adaptive samples: counted, not lost)
        kept = {trace for trace, why in decided.items() if why.startswith("stored")}
        assert set(decided) == set(sent.values()) and len(kept) >= REQUESTS // 2
        stored = {t.rsplit("-", 1)[-1].rsplit("/", 1)[-1] for t in linked}
        assert stored == kept, (len(stored), len(kept), [(t, decided.get(t)) for t in stored ^ kept][:10])
        assert sum(r.data.metrics.get(A.METRIC_TRACES_STORED, 0) for r in runs) == len(kept)
        assert sum(r.data.metrics.get(A.METRIC_TRACES_SAMPLED_OUT, 0) for r in runs) == REQUESTS - len(kept)
        # one service over two replicas: each keeps its own window per configuration, tagged and named by replica
        split = Counter((r.data.params["k"], r.data.tags["otel_mlflow.replica"]) for r in runs)
        assert set(split.values()) == {1} and {k for k, _ in split} == {"1", "2", "3"}
        assert {replica for _, replica in split} == {"receiver-0", "receiver-1"}
        assert all(r.info.run_name.endswith(f" [{r.data.tags['otel_mlflow.replica']}]") for r in runs)


def test_a_service_routed_to_one_replica_has_exact_windows(tmp_path: Path) -> None:
    """What the gateway's `routing_key: service` does (every span of a service to one replica), made here by giving
    each replica's app its own service: one window run per service and configuration, holding all its requests."""
    rotel_binary()
    from mlflow import MlflowClient

    with Stack(tmp_path / "stack", replicas=2, services=["rag-api", "rag-admin"]) as stack:
        sent: Counter[tuple[str, str]] = Counter()
        for i in range(60):
            service, k = stack.services[i % 2], 1 + i % 3
            assert demo.post(f"{stack.app_urls[i % 2]}/ask", {"question": f"q{i}", "k": k})[0] == 200
            sent[(service, str(k))] += 1
        assert stack.drain() == {"receiver-0": 0, "receiver-1": 0}
        assert stack.drain_spools() == [0, 0]
        client = MlflowClient(stack.mlflow_url)
        runs = client.search_runs([client.get_experiment_by_name("llmops-rag").experiment_id])
        counts = {(r.data.tags["service.name"], r.data.params["k"]): r.data.metrics["request_count"] for r in runs}
        assert counts == sent and len(runs) == len(sent)  # one run per service and k, every request in it


def test_make_stack_serves_the_app_and_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    """`make stack` as the README says: URLs printed, the app answers, Ctrl-C (SIGINT to the terminal's process
    group) stops every service in order and leaves nothing running."""
    import os
    import re
    import signal
    import subprocess
    import urllib.request

    rotel_binary()
    log = tmp_path / "stack.out"
    # -o: the venv counts as installed (make would otherwise reinstall it if pyproject.toml is newer)
    proc = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "stack"],
        cwd=ROOT,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        from tests.helpers import wait_for

        assert wait_for(lambda: "Ctrl-C stops it all." in log.read_text(), 180), log.read_text()[-3000:]
        out = log.read_text()
        mlflow_url = re.search(r"MLflow UI\s+(http://127\.0\.0\.1:\d+)", out).group(1)  # type: ignore[union-attr]
        app_url = re.search(r"RAG app 0\s+(http://127\.0\.0\.1:\d+)", out).group(1)  # type: ignore[union-attr]
        status, body, trace_id = demo.post(f"{app_url}/ask", {"question": "What is RAG?", "k": 2})
        assert status == 200 and trace_id and "Retrieval" in body["answer"]
        with urllib.request.urlopen(f"{mlflow_url}/health", timeout=5) as response:
            assert response.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(180)
    out = log.read_text()
    assert "stopping (the receivers write what they hold first)" in out
    assert "spans written, 0 dropped" in (ROOT / ".stack" / "receiver-0.log").read_text().splitlines()[-1]
    for url in (mlflow_url, app_url):  # nothing left listening
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            raise AssertionError(f"{url} still answers after Ctrl-C")
        except OSError:
            pass
