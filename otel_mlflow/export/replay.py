"""Spans and windows that come back from disk: dead processes' spool files taken over, spilled spans read back.

Usage (the ledger's planning pass, its lock not held)::

    take_over(owned, disk, backlog, windows, stats, lock, now)   # merge dead files; their windows restored
    read_back(disk, backlog, buffer, stats, lock, room, now)     # spilled batches back into memory

Each restored window is closed at once: the replaying process logs the requests its run lacks (steps
already logged are identical, and MLflow keeps one copy of an identical metric), writes the aggregates
and the predictions table, and ends the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.backlog import Backlog, read_batch
from otel_mlflow.export.guarded import GuardedSpool
from otel_mlflow.export.spool import CREATING, SpanRef, SpoolFile
from otel_mlflow.export.spool_dir import OwnedSpool
from otel_mlflow.export.stats import ExportStats
from otel_mlflow.export.trace_buffer import TraceBuffer, span_bytes
from otel_mlflow.mapping.request_record import RequestRecord, record_from_dict
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
        _reload_held_spans(spool, records[int(row["synced"] or 0) :])
        params = {str(k): str(v) for k, v in dict(row.get("params") or {}).items()}
        window = Window(key=records[0].window_key, service=str(row.get("service") or records[0].service),
                        params=params, opened_at=now, records=records, synced=int(row["synced"] or 0),
                        run_id=row["run_id"], id=row["id"], in_doubt=row["state"] == CREATING)  # fmt: skip
        with lock:
            windows.restore(window)
        restored += 1
    return restored


def _reload_held_spans(spool: SpoolFile, records: list[RequestRecord]) -> None:
    """Records not in their window's run yet get back the spans they hold in the spool (to link their traces)."""
    spans: dict[SpanRef, ReadableSpan] = {}
    for batch in {int(b) for r in records for b, _ in r.span_refs}:
        spans.update((ref, span) for span, ref in read_batch(spool, batch, held=True)[0])
    for record in records:
        record.spans = [spans[(int(b), int(p))] for b, p in record.span_refs if (int(b), int(p)) in spans]
        record.spans_bytes = sum(span_bytes(s) for s in record.spans)


def take_over(owned: OwnedSpool, disk: GuardedSpool, backlog: Backlog, windows: WindowSet, stats: ExportStats,
              lock: threading.Condition, now: float) -> None:  # fmt: skip
    """Merge the spool files of dead processes into this one; queue their batches, restore their windows."""
    taken = disk.call(lambda s: owned.take_over_dead())
    if not taken or not taken[0]:
        return
    files, batches = taken
    with lock:
        backlog.adopt(batches)
        stats.add("spool_files_taken_over", files)
    restore_windows(owned.spool, windows, lock, now)


def read_back(disk: GuardedSpool, backlog: Backlog, buffer: TraceBuffer, stats: ExportStats,
              lock: threading.Condition, room: Callable[[], bool], now: float) -> None:  # fmt: skip
    """Read spilled batches back into the trace buffer while ``room()`` (called under ``lock``) says so."""
    while disk.spool is not None:
        with lock:
            batch = backlog.next() if backlog and room() else None  # room() adds up what memory holds: only if needed
        if batch is None:
            return
        loaded = disk.call(lambda s: read_batch(s, batch))
        if loaded is None:
            return
        spans, lost = loaded
        with lock:
            for span, ref in spans:
                buffer.add(span, now, span_bytes(span), ref, replayed=True)
            stats.add("spans_dropped_mapping_failed", len(lost))
        if lost:
            disk.call(lambda s: s.retire(lost))
