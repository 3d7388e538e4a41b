"""Spans waiting for their run, grouped by trace until the trace's local root arrives; and the mark of each recent
trace (where it went), so that spans arriving later follow it.

A plain data structure with no threads or I/O: the ledger holds its lock around every call. Usage::

    buffer = TraceBuffer(trace_timeout=30.0)
    buffer.add(span, now=time.monotonic())
    for group in buffer.pop_ready(now=time.monotonic(), grace=5.0):
        ...   # group.dest: None (a new run for the trace), WrittenTo(run) or FiledIn(window, index)
    buffer.mark(trace_id, WrittenTo(run_id))                    # its later spans go to that run

A trace's mark (:data:`TraceMark`), each set by one call:

- ``WAITING``: its run is being written (``pop_ready`` handed the trace out); later spans wait for the outcome
- ``WrittenTo(run_id)``: in that run (``mark``, when its job is written); later spans join the run
- ``FiledIn(window_id, index)``: a request record of a serving window (``mark``, when filed); later spans join it
- no mark (:data:`FORGOTTEN`): never seen, its write given up, or beyond the last 10,000 traces
  (``forget``); later spans get a run of their own, tagged incomplete
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.config import Config
from otel_mlflow.export.pending.memory import span_bytes
from otel_mlflow.export.pending.message_refs import resolve_message_refs
from otel_mlflow.export.spool.file import SpanRef
from otel_mlflow.mapping.log_events import fold_log_events
from otel_mlflow.mapping.span_facts import is_local_root

_REMEMBERED_TRACES = 10_000


class _Waiting:
    def __repr__(self) -> str:
        return "WAITING"


WAITING = _Waiting()
"""The mark of a trace whose run is being written: its later spans wait for the outcome."""
FORGOTTEN = None
"""No mark: later spans of the trace get a run of their own."""


@dataclass(frozen=True)
class WrittenTo:
    """The trace (or a span's explicit ``otel_mlflow.run_id``) is in this run."""

    run_id: str


@dataclass(frozen=True)
class FiledIn:
    """The trace is request ``index`` of serving window ``window_id``."""

    window_id: str
    index: int


TraceMark = WrittenTo | FiledIn | _Waiting


@dataclass
class SpanGroup:
    """Spans bound for one place: ``dest`` None means a new run for this trace."""

    trace_id: int
    spans: list[ReadableSpan]
    dest: WrittenTo | FiledIn | None = None
    complete: bool = True
    """The trace's local root is among the spans (else the run is tagged incomplete)."""
    bytes: int = 0
    """Estimated memory of ``spans`` (:func:`span_bytes`), measured once when they arrived."""
    refs: list[SpanRef] = field(default_factory=list)
    """Where the spans sit in the spool (empty for spans held in memory only)."""
    replayed: bool = False
    """Some spans came back from the spool: the trace may have a journaled run already."""

    @property
    def run_id(self) -> str | None:
        """The run the spans go to, when it exists already."""
        return self.dest.run_id if isinstance(self.dest, WrittenTo) else None


@dataclass
class _Held:
    spans: list[ReadableSpan] = field(default_factory=list)
    bytes: int = 0
    refs: list[SpanRef] = field(default_factory=list)
    replayed: bool = False

    def add(self, span: ReadableSpan, size: int, ref: SpanRef | None, replayed: bool) -> None:
        self.spans.append(span)
        self.bytes += size
        if ref is not None:
            self.refs.append(ref)
        self.replayed = self.replayed or replayed

    def group(self, trace_id: int, dest: WrittenTo | FiledIn | None = None, complete: bool = True) -> SpanGroup:
        return SpanGroup(trace_id, self.spans, dest, complete, self.bytes, self.refs, self.replayed)


@dataclass
class _Pending(_Held):
    first_seen: float = 0.0
    root_at: float | None = None
    """When the root arrived: children that end after it (streams, background work) get a grace period."""


class TraceBuffer:
    """Holds spans until they can be written; counts what it holds."""

    def __init__(self, trace_timeout: float) -> None:
        self._timeout = trace_timeout
        self._traces: dict[int, _Pending] = {}
        self._explicit: dict[tuple[str, int], _Held] = {}
        self._late: dict[int, _Held] = {}
        self._marks: OrderedDict[int, TraceMark] = OrderedDict()
        self._roots: deque[tuple[float, int]] = deque()
        """(when, trace) as pending traces' roots came: the earliest in O(1) (a writer asks each time it waits)."""
        self._count = 0
        self.bytes = 0
        """Approximate memory of the spans held (see :func:`span_bytes`)."""

    def __len__(self) -> int:
        """Number of spans held."""
        return self._count

    def add(
        self,
        span: ReadableSpan,
        now: float,
        size: int | None = None,
        ref: SpanRef | None = None,
        replayed: bool = False,
    ) -> None:
        """File ``span`` under its explicit run, its trace's mark (late), or its pending trace. ``size`` is its
        :func:`span_bytes`, when the caller measured it already; ``ref`` its spool entry."""
        size = span_bytes(span) if size is None else size
        self._count += 1
        self.bytes += size
        trace_id = span.context.trace_id if span.context is not None else 0
        run_id = (span.attributes or {}).get(A.RUN_ID)
        if isinstance(run_id, str) and run_id:
            self._explicit.setdefault((run_id, trace_id), _Held()).add(span, size, ref, replayed)
            return
        if trace_id in self._marks:
            self._late.setdefault(trace_id, _Held()).add(span, size, ref, replayed)
            return
        pending = self._traces.get(trace_id)
        if pending is None:
            pending = self._traces[trace_id] = _Pending(first_seen=now)
        pending.add(span, size, ref, replayed)
        if pending.root_at is None and is_local_root(span):
            pending.root_at = now
            self._roots.append((now, trace_id))

    def pop_ready(
        self, now: float, grace: float = 0.0, draining: bool = False, hold_rootless: bool = False
    ) -> list[SpanGroup]:
        """Groups ready to write: traces whose root came ``grace`` seconds ago (or that timed out), explicit-run
        spans, and late spans of traces whose place is known. ``draining`` takes every trace, those still waiting
        for their root too, unless ``hold_rootless`` (their root may be among the spans spilled to disk: they wait
        for it, timeouts and draining aside). A trace handed out is marked ``WAITING``; spans that arrive while it
        is wait for its outcome (then join its run), draining or not."""
        groups: list[SpanGroup] = []
        for trace_id in list(self._traces):
            pending = self._traces[trace_id]
            if self._ready(pending, now, grace, draining, hold_rootless):
                del self._traces[trace_id]
                self.mark(trace_id, WAITING)
                groups.append(pending.group(trace_id, complete=pending.root_at is not None))
        for (run_id, trace_id), held in self._explicit.items():
            groups.append(held.group(trace_id, dest=WrittenTo(run_id)))
        self._explicit.clear()
        for trace_id in list(self._late):
            mark = self._marks.get(trace_id, FORGOTTEN)
            if isinstance(mark, (WrittenTo, FiledIn)):
                groups.append(self._late.pop(trace_id).group(trace_id, dest=mark))
            elif mark is FORGOTTEN:  # a run of their own
                groups.append(self._late.pop(trace_id).group(trace_id, complete=False))
        self._count -= sum(len(g.spans) for g in groups)
        self.bytes -= sum(g.bytes for g in groups)
        return groups

    def _ready(self, pending: _Pending, now: float, grace: float, draining: bool, hold_rootless: bool) -> bool:
        if pending.root_at is not None:
            return draining or now - pending.root_at >= grace or now - pending.first_seen >= self._timeout
        return not hold_rootless and (draining or now - pending.first_seen >= self._timeout)

    def has_ready(self, now: float, hold_rootless: bool = False) -> bool:
        """Would :meth:`pop_ready` return anything now without a grace period (draining aside)?"""
        if self._explicit or any(self._marks.get(t, FORGOTTEN) is not WAITING for t in self._late):
            return True
        if self._first_root() is not None:  # ready without a grace period
            return True
        if hold_rootless or not self._traces:
            return False
        return now - next(iter(self._traces.values())).first_seen >= self._timeout  # the oldest timed out

    def next_grace_end(self, grace: float) -> float | None:
        """When the earliest trace whose root came leaves its grace period (for the writer's wait)."""
        first = self._first_root()
        return None if first is None else first + grace

    def _first_root(self) -> float | None:
        """When the earliest root of a pending trace came (entries of traces handed out since are dropped here)."""
        while self._roots:
            at, trace_id = self._roots[0]
            pending = self._traces.get(trace_id)
            if pending is not None and pending.root_at == at:
                return at
            self._roots.popleft()
        return None

    def mark_of(self, trace_id: int) -> TraceMark | None:
        """Where a recent trace went; :data:`FORGOTTEN` (None) when unknown."""
        return self._marks.get(trace_id, FORGOTTEN)

    def mark(self, trace_id: int, mark: TraceMark) -> None:
        """Record where a trace went, so that its later spans follow it."""
        self._marks[trace_id] = mark
        self._marks.move_to_end(trace_id)
        while len(self._marks) > _REMEMBERED_TRACES:
            self._marks.popitem(last=False)

    def settle(self, trace_id: int, run_id: str | None) -> None:
        """The trace's job ended: ``WrittenTo(run_id)``, or forgotten when it was given up (``run_id`` None)."""
        if run_id:
            self.mark(trace_id, WrittenTo(run_id))
        else:
            self.forget(trace_id)

    def forget(self, trace_id: int) -> None:
        """Later spans of the trace get a run of their own (its write was given up, or its spans dropped)."""
        self._marks.pop(trace_id, None)

    def clear(self) -> int:
        """Drop every span held (exit without a spool); returns how many."""
        dropped = self._count
        self._traces.clear()
        self._explicit.clear()
        self._late.clear()
        self._roots.clear()
        self._count, self.bytes = 0, 0
        return dropped


def fold_events(group: SpanGroup, config: Config) -> dict[str, int]:
    """Before ``group`` is mapped: its GenAI log records folded into their spans (:mod:`otel_mlflow.mapping.log_events`)
    and the message refs the user allows read (:mod:`.message_refs`), in place; the counts, by ExportStats field.
    ``group.spans`` is left empty when it held only records whose spans never came (or came after their run)."""
    before = len(group.spans)
    group.spans, orphans = fold_log_events(group.spans)
    group.spans, read, unread = resolve_message_refs(group.spans, config.message_refs, config.max_text_chars)
    return {
        "log_events_joined": before - len(group.spans) - orphans,
        "log_events_orphaned": orphans,
        "message_refs_read": read,
        "message_refs_unread": unread,
    }
