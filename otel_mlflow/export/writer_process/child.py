"""The writer process of a spool folder (:func:`main`; the app starts it as ``python -m
otel_mlflow.export.writer_process``).

Reads the app's settings (JSON) on stdin, takes the folder's writer lock (another writer runs: it exits at once),
and runs an ``OTEL_MLFLOW_WRITER=thread`` exporter of its own on the folder, which takes over the files the apps hand
off. Each cycle (a quarter second) it looks for hand-offs, serves flush requests, and reports its lag in
``writer.json``. When no app on the folder is alive any more (a second without one) it drains what is left, as an
app's exit does, and exits; on SIGTERM too (20 s at most). What it cannot write stays spooled for the next writer.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from otel_mlflow.config import Config
from otel_mlflow.export.writer_process.files import (
    claim_writer,
    flush_requests,
    live_owners,
    write_status,
)
from otel_mlflow.sigterm import mark_stopping_on_signal

CYCLE_SECONDS = 0.25
IDLE_SECONDS = 1.0
"""No app alive on the folder this long: drain and exit."""
FLUSH_SECONDS = 5.0
"""One flush attempt for a request (the request stays until one succeeds)."""


def config_to_json(config: Config, folder: Path) -> str:
    """The settings a writer process needs: the app's, with its spool folder named and threads to write."""
    values = dataclasses.asdict(dataclasses.replace(config, writer="thread", spool_dir=str(folder)))
    return json.dumps(values)


def config_from_json(text: str) -> Config:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in json.loads(text).items()}
    return Config(**values)


def main() -> int:
    config = config_from_json(sys.stdin.read())
    folder = Path(str(config.spool_dir))
    lock = claim_writer(folder)
    if lock is None:
        return 0  # another writer serves this folder
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        mark_stopping_on_signal()  # the exit below keeps to 20 s
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the app; its exit stops us
    from otel_mlflow.export.exporter import MLflowSpanExporter  # after the lock: a second writer imports nothing

    exporter = MLflowSpanExporter(config, trace_process=True)  # MLflow's trace store gets a core of its own
    own = exporter.spool_name
    idle_since: float | None = None
    try:
        while not stop.is_set():
            serve_requests(exporter, folder)
            write_status(folder, own, exporter.lag())
            now = time.monotonic()
            if live_owners(folder, {own} if own else set()):
                idle_since = None
            elif idle_since is None:
                idle_since = now
            elif now - idle_since >= IDLE_SECONDS:
                break
            exporter.look_for_files()
            stop.wait(CYCLE_SECONDS)
    finally:
        exporter.shutdown()  # drains while MLflow makes progress; the rest stays spooled
        write_status(folder, None, exporter.lag())
        os.close(lock)
    return 0


def serve_requests(exporter: Any, folder: Path) -> None:
    """Write everything handed off before the pending flush requests, then remove them."""
    requests = flush_requests(folder)
    if requests and exporter.force_flush(int(FLUSH_SECONDS * 1000)):
        for request in requests:
            request.unlink(missing_ok=True)
