"""The serving windows of this process: requests filed, late spans and feedback joined, windows of dead processes
restored, and the writes that bring each window's run up to date.

Plain data structures: the ledger holds its lock around every call (the disk reads of :func:`rebuild` happen
before it takes the lock). Usage (the ledger, planning)::

    mark = windows.file(record, now)                          # FiledIn(window, index): the trace's mark
    windows.join_late(group, records)                         # spans that ended after their request was filed
    windows.join_feedback(group, buffer, records, now)        # feedback given while the window is still open
    for window in rebuild(disk.windows(), disk, windows.ids(), now):
        windows.restore(window)                               # closed at once: its run ends with its aggregates
    for job in windows.due(now, draining, options): ...       # a job per window with new requests, or closed
    windows.settle(job, written)                              # the window advances; FINISHED ones leave

A window's states and the one method that moves each: :class:`otel_mlflow.mapping.window.WindowState`. Late
spans add to their record's totals (aggregates and predictions.json, written when the window closes); the
request's step metrics already logged are not logged again. Never an extra run.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.pending.early_feedback import EarlyFeedback
from otel_mlflow.export.pending.jobs import FollowUp, Job, WriteState
from otel_mlflow.export.pending.memory import Held, span_bytes
from otel_mlflow.export.pending.traces import FORGOTTEN, WAITING, FiledIn, SpanGroup, TraceBuffer
from otel_mlflow.export.spool.file import RunJournal, SpanRef, SpoolFile, WindowRecord
from otel_mlflow.export.spool.guarded import GuardedSpool
from otel_mlflow.mapping.feedback import feedback_notes
from otel_mlflow.mapping.request_record import RequestRecord, add_late_spans, record_from_dict, record_to_dict
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.window import Window, WindowState, window_plan


class WindowSet:
    """The open and closed windows of this process (pure: no I/O, no clock)."""

    def __init__(self, seconds: float, max_requests: int) -> None:
        self.seconds = seconds
        self.max_requests = max_requests
        self._open: dict[Any, Window] = {}
        self._closing: list[Window] = []
        self._answered_by: dict[Any, tuple[str, ...]] = {}  # configuration -> models of its last closed window

    def add(self, record: RequestRecord, now: float) -> Window:
        """File ``record`` in its configuration's open window (opened when missing); returns that window."""
        window = self._open.get(record.window_key) or self._superset(record)
        if window is not None and len(window.records) >= self.max_requests:
            self._close(window)
            window = None
        if window is None:
            window = Window(record.window_key, record.service, dict(record.params), opened_at=now)
            window.previous_models = self._answered_by.get(record.window_key, ())
            self._open[record.window_key] = window
        window.records.append(record)
        return window

    def restore(self, window: Window) -> None:
        """A window of a dead process, from its spool: CLOSED, so its run gets its aggregates and ends."""
        window.state = WindowState.CLOSED
        self._closing.append(window)

    def _superset(self, record: RequestRecord) -> Window | None:
        """An open window whose configuration includes all the record knows of its own: a failed call
        that never reported its model still belongs with its configuration's requests."""
        items = set(record.params.items())
        for window in self._open.values():
            if window.service == record.service and items <= set(window.params.items()):
                return window
        return None

    def close_expired(self, now: float, draining: bool = False) -> None:
        """Close the windows whose time is up (``draining``: every open window)."""
        for window in list(self._open.values()):
            if draining or now - window.opened_at >= self.seconds:
                self._close(window)

    def to_sync(self) -> list[Window]:
        return [w for w in self.all() if w.needs_sync]

    def forget(self, window: Window) -> None:
        """A FINISHED window leaves the set."""
        if window in self._closing:
            self._closing.remove(window)

    def joinable(self, window_id: str) -> Window | None:
        """The window ``window_id`` while a late span can still join one of its records (:attr:`Window.joinable`)."""
        for window in self.all():
            if window.id == window_id:
                return window if window.joinable else None
        return None

    def all(self) -> list[Window]:
        return [*self._closing, *self._open.values()]

    def __len__(self) -> int:
        return len(self._open) + len(self._closing)

    def _close(self, window: Window) -> None:
        models = {m for r in window.records for m in r.response_models}
        if models:
            self._answered_by[window.key] = tuple(sorted(models))
        window.close()
        self._open.pop(window.key, None)
        self._closing.append(window)


class Windows:
    """The window set, and everything that changes its records or plans their writes."""

    def __init__(self, seconds: float, max_requests: int) -> None:
        self._set = WindowSet(seconds, max_requests)
        self._early = EarlyFeedback(seconds)

    def __len__(self) -> int:
        return len(self._set)

    def file(
        self, record: RequestRecord, group: SpanGroup, now: float, hold_spans: bool
    ) -> tuple[FiledIn, WindowRecord]:
        """File ``group``'s request (``record``) in its window; returns the trace's mark and the entry to journal.
        With ``hold_spans`` (MLflow traces linked), its spans stay in the spool until the window's run has the
        request; else they are retired as the record is journaled."""
        early = self._early.take(group.trace_id, now)
        if early is not None:
            record.feedback = early
        if hold_spans:
            record.spans, record.spans_bytes = group.spans, group.bytes
            record.span_refs = [[b, p] for b, p in group.refs]
        window = self._set.add(record, now)
        mark = FiledIn(window.id, len(window.records) - 1)
        refs = [] if record.span_refs else group.refs
        return mark, (window.id, window.describe(), mark.index, record_to_dict(record), refs)

    def join_late(self, group: SpanGroup, records: list[WindowRecord]) -> bool:
        """Add ``group``'s spans to their request's record (queued in ``records`` to be journaled); False when the
        window is gone or its closing write is under way."""
        found = self._filed(group.dest)
        if found is None:
            return False
        window, index = found
        add_late_spans(window.records[index], group.spans)
        records.append((window.id, window.describe(), index, record_to_dict(window.records[index]), group.refs))
        return True

    def join_feedback(self, group: SpanGroup, buffer: TraceBuffer, records: list[WindowRecord], now: float) -> bool:
        """Set the feedback of each request that ``group``'s feedback names, while its window can take it (queued in
        ``records`` to be journaled; the feedback spans stay spooled for their assessment job). Feedback on a request
        not filed yet (it overtook its request: another exporter's batch, a spool file merged first) is remembered
        and set when the request is filed, within a window's length. Returns whether it names a request of this
        process (a trace ``buffer`` has a mark for)."""
        known = False
        for note in feedback_notes(group.spans):
            if note.otel_trace_id is None:
                continue
            mark = buffer.mark_of(note.otel_trace_id)
            known = known or mark is not FORGOTTEN
            found = self._filed(mark)
            if found is None:
                if mark is FORGOTTEN or mark is WAITING:  # unseen, or being routed in this very pass
                    self._early.remember(note.otel_trace_id, str(note.value), now)
                continue
            window, index = found
            window.records[index].feedback = str(note.value)
            records.append((window.id, window.describe(), index, record_to_dict(window.records[index]), []))
        return known

    def _filed(self, mark: Any) -> tuple[Window, int] | None:
        if not isinstance(mark, FiledIn):
            return None
        window = self._set.joinable(mark.window_id)
        if window is None or mark.index >= len(window.records):
            return None
        return window, mark.index

    def ids(self) -> set[str]:
        return {w.id for w in self._set.all()}

    def restore(self, window: Window) -> None:
        if window.id not in self.ids():
            self._set.restore(window)

    def due(self, now: float, draining: bool, options: MappingOptions, per_second: bool = False) -> list[Job]:
        """Close the windows whose time is up (every one when ``draining``), then a job for each window with new
        requests or a closing write due; each such window moves to SYNCING or CLOSING. A window's first write fixes
        its metric points: per second if ``per_second`` (``OTEL_MLFLOW_STEPS``), else a step per request."""
        self._set.close_expired(now, draining)
        jobs, wall = [], time.time()
        for window in self._set.to_sync():
            if window.synced == 0 and window.run_id is None and not window.in_doubt:
                window.per_second = per_second
            window.start_write()
            jobs.append(window_job(window, options, wall))
        return jobs

    def settle(self, job: Job, written: bool) -> None:
        """A window's job landed or was given up; a FINISHED window leaves the set."""
        window = job.window
        if (
            window is not None
            and window.settle(job.upto, job.run_id, written, job.closes_window, job.plan.points) is WindowState.FINISHED
        ):
            self._set.forget(window)

    def held(self) -> Held:
        """Spans and bytes of requests not yet in their window's run."""
        spans = held_bytes = 0
        for window in self._set.all():
            for record in window.records[window.synced :]:
                spans += record.span_count
                held_bytes += record.held_bytes()
        return spans, held_bytes

    def unwritten(self) -> int:
        """Requests filed and not yet in their window's run."""
        return sum(w.pending for w in self._set.all())

    def busy(self) -> bool:
        """Some window has requests to write or a write in flight."""
        return any(w.pending or w.in_flight for w in self._set.all())

    def clear(self) -> None:
        self._set = WindowSet(self._set.seconds, self._set.max_requests)
        self._early = EarlyFeedback(self._set.seconds)


def window_job(window: Window, options: MappingOptions, wall: float | None = None) -> Job:
    """The job that brings ``window``'s run up to date at ``wall`` (its new requests; aggregates once closed)."""
    plan, upto = window_plan(window, options, wall)
    new = window.records[window.synced : upto]
    state = WriteState(in_doubt=window.in_doubt and window.run_id is None)
    holding = [i for i, r in enumerate(new, start=window.synced) if r.span_refs]
    spans = [s for r in new for s in r.spans]
    follow = FollowUp(spans, window=window.id, indexes=holding) if holding else None
    job = Job(plan, sum(r.span_count for r in new), key=f"w-{window.id}", window=window, upto=upto, state=state)
    job.follow = follow
    job.held_bytes = sum(r.held_bytes() for r in new)
    return job


def rebuild(rows: list[dict[str, Any]], disk: GuardedSpool, known: set[str], now: float) -> list[Window]:
    """The windows of spool ``rows`` (a dead process's, merged) not among ``known``, with the spans their unwritten
    records hold; a window without records is dropped from the spool. Disk reads: call without the ledger's lock."""
    out = []
    for row in rows:
        if row["id"] in known or row["state"] is RunJournal.LINKING:  # its run is done: only traces wait
            continue
        if not row["records"]:
            disk.call(functools.partial(SpoolFile.drop_window, window=row["id"]))
            continue
        records = [record_from_dict(r) for r in row["records"]]
        through = row["points"][1] if row.get("points") else None
        for record in records:  # in a per-second point logged before the crash
            record.in_points = through is not None and record.end_ns // 1_000_000_000 <= through
        synced = int(row["synced"] or 0)
        _reload_held_spans(disk, records[synced:])
        params = {str(k): str(v) for k, v in dict(row.get("params") or {}).items()}
        out.append(
            Window(
                key=records[0].window_key,
                service=str(row.get("service") or records[0].service),
                params=params,
                opened_at=now,
                records=records,
                synced=synced,
                run_id=row["run_id"],
                id=row["id"],
                in_doubt=row["state"] is RunJournal.CREATING,
                per_second=row.get("steps") == "second" or bool(row.get("points")),  # points: its first write
                points=tuple(row["points"]) if row.get("points") else None,
            )
        )
    return out


def held_spans(disk: GuardedSpool, refs: Iterable[SpanRef]) -> dict[SpanRef, ReadableSpan]:
    """The spans window records hold in the spool at ``refs`` (those still there), read a batch at a time."""
    wanted = {(int(b), int(p)) for b, p in refs}
    spans: dict[SpanRef, ReadableSpan] = {}
    for batch in sorted({b for b, _ in wanted}):
        loaded = disk.read_batch(batch, held=True)
        spans.update((ref, span) for span, ref in (loaded[0] if loaded else []) if ref in wanted)
    return spans


def _reload_held_spans(disk: GuardedSpool, records: list[RequestRecord]) -> None:
    """Records not in their window's run yet get back the spans they hold in the spool (to link their traces)."""
    spans = held_spans(disk, [(b, p) for r in records for b, p in r.span_refs])
    for record in records:
        record.spans = [spans[(int(b), int(p))] for b, p in record.span_refs if (int(b), int(p)) in spans]
        record.spans_bytes = sum(span_bytes(s) for s in record.spans)
