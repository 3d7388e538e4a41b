"""Children that end after their served request was filed in a window join that request's record.

Usage (the ledger, planning)::

    buffer.mark_written(trace_id, window_marker(window.id, index))   # when the request is filed
    ...
    if is_window_marker(group.run_id):                               # its late spans, in a later pass
        joined = join_late(windows, group, records)                   # False: the window's run is final

Feedback given later (:func:`otel_mlflow.log_feedback`) joins its request's record the same way
(:func:`join_feedback`): the window's ``feedback.<value>`` counts and table include it when it came before
the window closed.

A late span's tokens add to the record's totals (aggregates and predictions.json, written when the window
closes); the request's step metrics already logged are not logged again. Never an extra run.
"""

from __future__ import annotations

from otel_mlflow.export.spool import WindowRecord
from otel_mlflow.export.trace_buffer import SpanGroup, TraceBuffer
from otel_mlflow.mapping.feedback import feedback_notes
from otel_mlflow.mapping.request_record import add_late_spans, record_to_dict
from otel_mlflow.mapping.window import Window, WindowSet

_MARK = "window:"


def window_marker(window_id: str, index: int) -> str:
    """What the trace buffer remembers for a filed request instead of a run id."""
    return f"{_MARK}{window_id}:{index}"


def is_window_marker(run_id: str | None) -> bool:
    return bool(run_id) and str(run_id).startswith(_MARK)


def join_late(windows: WindowSet, group: SpanGroup, records: list[WindowRecord]) -> bool:
    """Add ``group``'s spans to their request's record (queued in ``records`` to be journaled); False when
    the window is gone or its closing write is under way."""
    found = _filed(windows, group.run_id)
    if found is None:
        return False
    window, index = found
    add_late_spans(window.records[index], group.spans)
    records.append((window.id, window.describe(), index, record_to_dict(window.records[index]), group.refs))
    return True


def join_feedback(windows: WindowSet, buffer: TraceBuffer, group: SpanGroup, records: list[WindowRecord]) -> int:
    """Set the feedback of each request that ``group``'s feedback names, when its window can still take it
    (queued in ``records`` to be journaled; the feedback spans stay in the spool for their assessment job).
    Returns how many records took one."""
    joined = 0
    for note in feedback_notes(group.spans):
        found = _filed(windows, buffer.run_of(note.otel_trace_id)) if note.otel_trace_id is not None else None
        if found is None:
            continue
        window, index = found
        window.records[index].feedback = str(note.value)
        records.append((window.id, window.describe(), index, record_to_dict(window.records[index]), []))
        joined += 1
    return joined


def _filed(windows: WindowSet, marker: str | None) -> tuple[Window, int] | None:
    """The window and record index a marker names, while the window can still take changes."""
    if not is_window_marker(marker):
        return None
    window_id, _, index_text = str(marker)[len(_MARK) :].rpartition(":")
    window = windows.joinable(window_id)
    if window is None or not index_text.isdigit() or int(index_text) >= len(window.records):
        return None
    return window, int(index_text)
