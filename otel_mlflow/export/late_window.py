"""Children that end after their served request was filed in a window join that request's record.

Usage (the ledger, planning)::

    buffer.mark_written(trace_id, window_marker(window.id, index))   # when the request is filed
    ...
    if is_window_marker(group.run_id):                               # its late spans, in a later pass
        joined = join_late(windows, group, records)                   # False: the window's run is final

A late span's tokens add to the record's totals (aggregates and predictions.json, written when the window
closes); the request's step metrics already logged are not logged again. Never an extra run.
"""

from __future__ import annotations

from otel_mlflow.export.spool import WindowRecord
from otel_mlflow.export.trace_buffer import SpanGroup
from otel_mlflow.mapping.request_record import add_late_spans, record_to_dict
from otel_mlflow.mapping.window import WindowSet

_MARK = "window:"


def window_marker(window_id: str, index: int) -> str:
    """What the trace buffer remembers for a filed request instead of a run id."""
    return f"{_MARK}{window_id}:{index}"


def is_window_marker(run_id: str | None) -> bool:
    return bool(run_id) and str(run_id).startswith(_MARK)


def join_late(windows: WindowSet, group: SpanGroup, records: list[WindowRecord]) -> bool:
    """Add ``group``'s spans to their request's record (queued in ``records`` to be journaled); False when
    the window is gone or its closing write is under way."""
    window_id, _, index_text = str(group.run_id)[len(_MARK) :].rpartition(":")
    window = windows.joinable(window_id)
    index = int(index_text)
    if window is None or index >= len(window.records):
        return False
    record = window.records[index]
    add_late_spans(record, group.spans)
    records.append((window.id, window.describe(), index, record_to_dict(record), group.refs))
    return True
