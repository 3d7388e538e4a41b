"""Issue 27, item 6: ``OTEL_MLFLOW_WRITER=process``. The app only spools; one writer process per spool folder writes
MLflow. Real processes and signals, a real sqlite store: SIGKILL of the writer mid-write or of the app loses and
doubles nothing, the app exits cleanly while the writer drains, two app workers share one writer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from otel_mlflow.export.spool.folder import SPOOL_FOLDER_NAME
from otel_mlflow.export.writer_process.files import STATUS, writer_alive
from tests.helpers import Store, wait_for
from tests.test_crash_replay import assert_trace_runs, assert_traces_once, assert_window_runs, spool_left

APP = str(Path(__file__).with_name("writer_app.py"))
pytestmark = pytest.mark.subprocess


def start_app(store: Store, mode: str, requests: int, seconds: float, kill: str = "none") -> subprocess.Popen[str]:
    env = {**os.environ, "OTEL_MLFLOW_WRITER": "process", "PYTHONPATH": str(Path(__file__).parents[1])}
    return subprocess.Popen(
        [sys.executable, APP, store.uri, mode, str(requests), str(seconds), kill],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=store.root,
        env=env,
    )


def finish(app: subprocess.Popen[str], killed: bool = False) -> tuple[int, str]:
    """Wait for the app: (requests it made, its stderr)."""
    out, err = app.communicate(timeout=300)
    assert app.returncode == (-signal.SIGKILL if killed else 0), err[-3000:]
    assert "writer threads: []" in err, err[-3000:]  # nothing in the app's process writes MLflow
    return sum(1 for line in out.splitlines() if line.startswith("request ")), err


def folder_of(store: Store, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        root = store.root / SPOOL_FOLDER_NAME
        folders = list(root.iterdir()) if root.exists() else []
        if folders:
            return folders[0]
        time.sleep(0.05)
    raise AssertionError("no spool folder")


def _stat(pid: int | str) -> list[str]:
    """State, parent pid... of a process (from /proc); [] when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def children_of(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` now."""
    return {int(p.name) for p in Path("/proc").glob("[0-9]*") if (stat := _stat(p.name)) and int(stat[1]) == pid}


def running(pid: int) -> bool:
    """Alive and not a zombie."""
    stat = _stat(pid)
    return bool(stat) and stat[0] != "Z"


def writer_pid(folder: Path) -> int | None:
    try:
        pid = json.loads((folder / STATUS).read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None
    return int(pid) if writer_alive(folder) else None


def wait_writer_gone(folder: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while writer_alive(folder):
        assert time.monotonic() < deadline, "the writer process did not exit once no app was left"
        time.sleep(0.1)


def runs_in(store: Store) -> int:
    import sqlite3

    with sqlite3.connect(store.uri.removeprefix("sqlite:///")) as db:
        return int(db.execute("SELECT count(*) FROM runs").fetchone()[0])


def test_window_runs_closed_when_the_app_exits(store: Store) -> None:
    """The app exits normally: its exit waits until the writer has written every request, closed the window run and
    exited; nothing stays spooled, and no thread of the app wrote MLflow."""
    made, _ = finish(start_app(store, "window", requests=120, seconds=1.0))
    assert made == 120
    assert_window_runs(store, 120)  # the window is closed (FINISHED) when the app's exit returns
    assert_traces_once(store, 120)
    folder = folder_of(store)
    wait_writer_gone(folder)
    assert spool_left(store) == 0


def test_sigkill_of_the_writer_mid_write_loses_and_doubles_nothing(store: Store) -> None:
    """The writer is SIGKILLed twice while it writes runs; the app starts another each time; each request is one run
    and one MLflow trace, none twice."""
    app = start_app(store, "trace", requests=240, seconds=8.0)
    folder, killed, helpers = folder_of(store), [], set()
    deadline = time.monotonic() + 120
    while len(killed) < 2 and time.monotonic() < deadline:
        pid = writer_pid(folder)
        helpers |= children_of(pid) if pid is not None else set()  # its trace helper (and multiprocessing's tracker)
        if pid is not None and pid not in killed and runs_in(store) >= 20 * (len(killed) + 1):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.02)
    assert len(killed) == 2, f"killed {killed}; runs {runs_in(store)}"
    while app.poll() is None and time.monotonic() < deadline:
        helpers |= children_of(writer_pid(folder) or -1)
        time.sleep(0.1)
    made, err = finish(app)
    assert helpers, "the writer stored MLflow traces without its helper process"
    assert wait_for(lambda: not any(map(running, helpers)), timeout=60), helpers  # their pipes closed: they exit
    assert made == 240
    assert "writer process" in err and "exit code -9" in err  # told, once a minute
    wait_writer_gone(folder)
    assert_trace_runs(store, 240)
    assert_traces_once(store, 240)
    assert spool_left(store) == 0


def test_sigkill_of_the_app_leaves_its_spans_to_the_writer(store: Store) -> None:
    """The app is SIGKILLed right after its last request was spooled: the writer takes its file over and writes every
    request once, then exits (no app left)."""
    app = start_app(store, "window", requests=80, seconds=1.0, kill="now")
    folder = folder_of(store)
    made, _ = finish(app, killed=True)
    assert made == 80
    wait_writer_gone(folder)
    assert_window_runs(store, 80)
    assert spool_left(store) == 0


def test_two_app_workers_share_one_writer(store: Store) -> None:
    """Two app processes on one spool folder: one writer process serves both (the second app finds it running)."""
    apps = [start_app(store, "trace", requests=100, seconds=4.0) for _ in range(2)]
    folder, pids = folder_of(store), set()
    while any(app.poll() is None for app in apps):
        pid = writer_pid(folder)
        if pid is not None:
            pids.add(pid)
        time.sleep(0.05)
    assert sum(finish(app)[0] for app in apps) == 200
    wait_writer_gone(folder)
    assert len(pids) == 1, f"writer processes seen: {pids}"
    assert_trace_runs(store, 200)
    assert spool_left(store) == 0
