"""SIGKILL at the worst moments; the next process on the same spool writes everything, none of it twice.

Real processes, real signals, a real sqlite store: a child app (tests/crash_app.py) makes requests and
kills itself; a second run of it on the same store (so the same default spool folder) replays.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from otel_mlflow import attributes as A
from otel_mlflow.export.spool.folder import SPOOL_FOLDER_NAME
from tests.helpers import Store, requests_in_points, spooled_span_count

APP = str(Path(__file__).with_name("crash_app.py"))
pytestmark = pytest.mark.subprocess


def run_app(
    store: Store, mode: str, requests: int, flushed_first: int, kill: str, kill_at: int = 1, traces: bool = False
) -> int:
    """Run the app (storing MLflow traces if ``traces``); returns how many requests it made before it exited or was
    killed."""
    proc = subprocess.run(
        [sys.executable, APP, store.uri, mode, str(requests), str(flushed_first), kill, str(kill_at)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=store.root,
        env={**os.environ, "CRASH_APP_TRACES": "1" if traces else "0"},
    )
    if kill == "none":
        assert proc.returncode == 0, proc.stderr[-3000:]
    else:
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr[-3000:])
    return sum(1 for line in proc.stdout.splitlines() if line.startswith("request "))


def spool_left(store: Store) -> int:
    return sum(spooled_span_count(folder) for folder in (store.root / SPOOL_FOLDER_NAME).iterdir())


def assert_trace_runs(store: Store, expected: int) -> None:
    runs = store.runs()
    traces = Counter(r.data.tags[A.TAG_TRACE_ID] for r in runs)
    assert len(traces) == expected, f"{len(traces)} traces written of {expected}"
    assert max(traces.values()) == 1, f"written twice: {[t for t, n in traces.items() if n > 1]}"
    assert {r.info.status for r in runs} == {"FINISHED"}
    assert all(r.data.metrics["span_count"] == 2 for r in runs)  # no span lost or doubled inside a run


def assert_window_runs(store: Store, expected: int) -> None:
    runs = store.runs()
    client = store.client()
    total = 0
    for run in runs:
        assert run.info.status == "FINISHED", "a window run was left RUNNING"
        count = int(run.data.metrics["request_count"])
        points = requests_in_points(client, run)
        assert points == count, f"metric points for {points} requests of {count}: a point was logged twice"
        total += count
    assert total == expected, f"{total} requests in window runs of {expected}"


@pytest.mark.parametrize("mode", ["trace", "window"])
def test_sigkill_right_after_flush_then_replay(store: Store, mode: str) -> None:
    run_app(store, mode, requests=60, flushed_first=30, kill="now")
    assert spool_left(store) > 0  # the unflushed half waits on disk
    run_app(store, mode, requests=0, flushed_first=0, kill="none")
    (assert_trace_runs if mode == "trace" else assert_window_runs)(store, 60)
    assert spool_left(store) == 0


@pytest.mark.parametrize("kill", ["after-create", "after-log-batch"])
def test_sigkill_between_mlflow_write_and_spool_update_writes_no_duplicate_run(store: Store, kill: str) -> None:
    made = run_app(store, "trace", requests=10, flushed_first=0, kill=kill, kill_at=3)
    run_app(store, "trace", requests=0, flushed_first=0, kill="none")
    assert made == 10
    assert_trace_runs(store, 10)


@pytest.mark.parametrize(("kill", "kill_at", "flushed_first"), [("after-create", 1, 0), ("after-log-batch", 2, 20)])
def test_sigkill_inside_a_window_write_closes_the_window_once(
    store: Store, kill: str, kill_at: int, flushed_first: int
) -> None:
    # after-create: all 40 requests spooled, killed as the window's run is created;
    # after-log-batch: 20 requests written, 20 more spooled; killed right after their batch of steps landed
    made = run_app(store, "window", requests=40, flushed_first=flushed_first, kill=kill, kill_at=kill_at)
    run_app(store, "window", requests=0, flushed_first=0, kill="none")
    assert made == 40
    assert_window_runs(store, made)


def assert_traces_once(store: Store, expected: int) -> None:
    """Every request's MLflow trace is stored once, linked to the run that has the request's numbers."""
    client = store.client()
    runs = store.runs()
    linked: Counter[str] = Counter()
    for run in runs:
        for trace in client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id, max_results=500):
            linked[trace.info.trace_id] += 1
    assert len(linked) == expected, f"{len(linked)} traces linked to runs of {expected}"
    assert max(linked.values()) == 1, "a trace stored or linked twice"
    everything = client.search_traces(locations=[runs[0].info.experiment_id], max_results=500)
    assert len(everything) == expected, f"{len(everything)} MLflow traces for {expected} requests"


@pytest.mark.parametrize("mode", ["trace", "window"])
@pytest.mark.parametrize("kill", ["before-traces", "after-link"])
def test_sigkill_in_the_trace_lane_stores_each_trace_once_and_no_run_twice(store: Store, mode: str, kill: str) -> None:
    """Issue 27, two lanes: runs land first, their traces follow. Killed with runs written and their traces not yet
    stored (or stored and linked but not yet retired from the spool): the next start stores each trace once, links it
    to the run that has the request's numbers, and logs no step, run or trace twice."""
    made = run_app(store, mode, requests=30, flushed_first=0, kill=kill, kill_at=1, traces=True)
    assert made == 30
    assert store.runs(), "killed before any run was written: the kill point is not in the trace lane"
    if kill == "before-traces":  # doctor tells the spans that wait for their trace only
        report = subprocess.run(
            [str(Path(sys.executable).with_name("otel-mlflow")), "doctor"],
            env={**os.environ, "MLFLOW_TRACKING_URI": store.uri},
            capture_output=True,
            text=True,
            cwd=store.root,
            timeout=120,
        )
        assert "of them for their MLflow trace only" in report.stdout, report.stdout
    run_app(store, mode, requests=0, flushed_first=0, kill="none", traces=True)
    (assert_trace_runs if mode == "trace" else assert_window_runs)(store, 30)
    assert_traces_once(store, 30)
    assert spool_left(store) == 0
