"""A trace whose root and children reach the exporter apart is one run, also when one part waits on disk while
the process exits or dies (issue 26, item 1: exit and drain split such traces into two runs, one incomplete)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_mlflow import attributes as A
from tests.helpers import Store, spooled_span_count

APP = str(Path(__file__).with_name("split_app.py"))
pytestmark = pytest.mark.subprocess


def run_app(store: Store, spool: Path, traces: int, bound: int, end: str) -> str:
    proc = subprocess.run(
        [sys.executable, APP, store.uri, str(spool), str(traces), str(bound), end],
        capture_output=True, text=True, timeout=600, cwd=store.root,
    )  # fmt: skip
    assert proc.returncode == (-9 if end == "kill" else 0), proc.stderr[-3000:]
    return proc.stdout


def assert_whole_traces(store: Store, traces: int) -> None:
    runs = store.runs()
    assert len(runs) == traces, f"{len(runs)} runs for {traces} traces"
    assert not [r for r in runs if A.TAG_INCOMPLETE in r.data.tags], "a trace was split"
    assert {r.data.metrics["span_count"] for r in runs} == {2.0}
    assert len({r.data.tags[A.TAG_TRACE_ID] for r in runs}) == traces


def test_a_batch_script_exit_writes_each_trace_once_when_roots_wait_on_disk(store: Store, tmp_path: Path) -> None:
    out = run_app(store, tmp_path / "spool", traces=300, bound=200, end="exit")
    assert "stats 600" in out and not out.strip().endswith(" 0"), out  # some spans were spilled
    assert_whole_traces(store, 300)


def test_drain_after_sigkill_writes_each_trace_once_when_roots_wait_on_disk(store: Store, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    run_app(store, spool, traces=400, bound=300, end="kill")
    assert spooled_span_count(spool) == 800
    settings = {"OTEL_MLFLOW_RUN_MODE": "trace", "OTEL_MLFLOW_LINK_TRACES": "false", "OTEL_MLFLOW_LOG_SPANS": "false"}
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri, "OTEL_MLFLOW_MAX_QUEUE_SIZE": "300", **settings}
    drain = subprocess.run([str(Path(sys.executable).with_name("otel-mlflow")), "drain", "--spool-dir", str(spool)],
                           env=env, capture_output=True, text=True, timeout=600, cwd=store.root)  # fmt: skip
    assert drain.returncode == 0, drain.stderr[-3000:]
    assert_whole_traces(store, 400)
    assert spooled_span_count(spool) == 0
