"""What the processes on one spool folder share in ``OTEL_MLFLOW_WRITER=process`` mode.

- ``writer.lock``: the writer process holds an ``flock`` on it for its life (one writer per folder; the kernel
  drops it however the writer dies);
- ``writer.json``: the writer's status (its pid, its own spool file, the lanes' lag), replaced whole each cycle;
- ``flush-*.request``: a flush asked by an app (``force_flush``, exit); the writer removes it once everything
  handed off before it is in MLflow.

Usage::

    if not writer_alive(folder) and files_waiting(folder, own): spawn ...
    request = request_flush(folder)         # then wait until it is gone
    status = read_status(folder)            # None before the first writer wrote one
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

from otel_mlflow.export.pending.lanes import Lag
from otel_mlflow.export.spool.takeover import DB, LOCK, PREFIX, lock_if_dead

WRITER_LOCK, STATUS, REQUEST_PREFIX, REQUEST_SUFFIX = "writer.lock", "writer.json", "flush-", ".request"


def claim_writer(folder: Path) -> int | None:
    """The writer's lock, taken for the life of the caller (its file descriptor); None when a writer runs."""
    return lock_if_dead(folder / WRITER_LOCK)


def writer_alive(folder: Path) -> bool:
    """A writer process holds this folder's lock now."""
    fd = lock_if_dead(folder / WRITER_LOCK)
    if fd is None:
        return (folder / WRITER_LOCK).exists()
    os.close(fd)
    return False


def spool_names(folder: Path) -> list[str]:
    """The spool files of ``folder`` (names without ``.db``)."""
    return sorted(db.name[: -len(DB)] for db in folder.glob(f"{PREFIX}*{DB}"))


def files_waiting(folder: Path, own: str | None) -> bool:
    """A spool file other than ``own`` is in ``folder``: handed off, left by a dead process, or the writer's."""
    return any(name != own for name in spool_names(folder))


def live_owners(folder: Path, skip: set[str]) -> int:
    """Spool files (but ``skip``) whose owner process is alive: apps, receivers, other exporters."""
    live = 0
    for name in spool_names(folder):
        if name in skip:
            continue
        fd = lock_if_dead(folder / f"{name}{LOCK}")
        if fd is None:
            live += 1
        else:
            os.close(fd)
    return live


def request_flush(folder: Path) -> Path:
    """Ask the writer to write everything handed off so far; it removes the returned file when done."""
    path = folder / f"{REQUEST_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}{REQUEST_SUFFIX}"
    path.touch(mode=0o600)
    return path


def flush_requests(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"{REQUEST_PREFIX}*{REQUEST_SUFFIX}"))


def write_status(folder: Path, spool: str | None, lag: Lag) -> None:
    """Replace ``writer.json`` whole (a reader never sees half of it)."""
    temporary = folder / f".{STATUS}.{os.getpid()}"
    temporary.write_text(json.dumps({"pid": os.getpid(), "spool": spool, "lag": asdict(lag)}))
    os.replace(temporary, folder / STATUS)


def read_status(folder: Path) -> dict[str, Any] | None:
    try:
        status = json.loads((folder / STATUS).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None


def status_lag(status: dict[str, Any] | None) -> Lag:
    """The lag a writer reported (zeros when it reported none)."""
    try:
        return Lag(**status["lag"]) if status else Lag(0.0, 0, 0.0, 0)
    except (KeyError, TypeError):
        return Lag(0.0, 0, 0.0, 0)
