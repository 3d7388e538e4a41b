"""Serving windows of a dead process, read back from its spool file so their runs get closed.

Usage (the ledger, after taking a dead process's file over)::

    restore_windows(spool, windows, lock, now)

Each restored window is closed at once: the replaying process logs the requests its run lacks (steps
already logged are identical, and MLflow keeps one copy of an identical metric), writes the aggregates
and the predictions table, and ends the run.
"""

from __future__ import annotations

import threading

from otel_mlflow.export.spool import CREATING, SpoolFile
from otel_mlflow.mapping.request_record import record_from_dict
from otel_mlflow.mapping.window import Window, WindowSet


def restore_windows(spool: SpoolFile, windows: WindowSet, lock: threading.Condition, now: float) -> int:
    """Add every window of ``spool`` that ``windows`` does not hold yet; returns how many."""
    with lock:
        known = {w.id for w in windows.all()}
    restored = 0
    for row in spool.windows():
        if row["id"] in known:
            continue
        if not row["records"]:
            spool.drop_window(row["id"])
            continue
        records = [record_from_dict(r) for r in row["records"]]
        params = {str(k): str(v) for k, v in dict(row.get("params") or {}).items()}
        window = Window(key=records[0].window_key, service=str(row.get("service") or records[0].service),
                        params=params, opened_at=now, records=records, synced=int(row["synced"] or 0),
                        run_id=row["run_id"], id=row["id"], in_doubt=row["state"] == CREATING)  # fmt: skip
        with lock:
            windows.restore(window)
        restored += 1
    return restored
