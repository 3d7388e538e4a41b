"""Spans waiting for their run: grouped by trace until the trace's local root arrives.

A plain data structure with no threads or I/O; the exporter holds its lock around every call.
Usage::

    buffer = TraceBuffer(trace_timeout=30.0)
    buffer.add(span, now=time.monotonic())
    for group in buffer.pop_ready(now=time.monotonic()):
        ...  # group.spans all go to one run: a new one (group.run_id is None) or group.run_id
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.export.spool import SpanRef
from otel_mlflow.mapping.span_facts import is_local_root

_PENDING = ""  # a trace whose run is being created: late spans wait for its id
_REMEMBERED_TRACES = 10_000


@dataclass
class SpanGroup:
    """Spans bound for one run. ``run_id`` None means: create a run for this trace."""

    trace_id: int
    spans: list[ReadableSpan]
    run_id: str | None = None
    complete: bool = True
    bytes: int = 0
    """Estimated memory of ``spans`` (:func:`span_bytes`), measured once when they arrived."""
    refs: list[SpanRef] = field(default_factory=list)
    """Where the spans sit in the spool (empty for spans held in memory only)."""
    replayed: bool = False
    """Some spans came back from the spool: the trace may have a journaled run already."""


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

    def group(self, trace_id: int, run_id: str | None = None, complete: bool = True) -> SpanGroup:
        return SpanGroup(trace_id, self.spans, run_id, complete, self.bytes, self.refs, self.replayed)


@dataclass
class _Pending(_Held):
    first_seen: float = 0.0
    root_seen: bool = False
    root_at: float = 0.0
    """When the root arrived: children that end after it (streams, background work) get a grace period."""


class TraceBuffer:
    """Holds spans until they can be written; counts what it holds."""

    def __init__(self, trace_timeout: float) -> None:
        self._timeout = trace_timeout
        self._traces: dict[int, _Pending] = {}
        self._explicit: dict[tuple[str, int], _Held] = {}
        self._late: dict[int, _Held] = {}
        self._written: OrderedDict[int, str] = OrderedDict()
        self._count = 0
        self.bytes = 0
        """Approximate memory of the spans held (see :func:`span_bytes`)."""

    def __len__(self) -> int:
        """Number of spans held."""
        return self._count

    def add(self, span: ReadableSpan, now: float, size: int | None = None, ref: SpanRef | None = None,
            replayed: bool = False) -> None:  # fmt: skip
        """File ``span`` under its explicit run, its trace's written run, or its pending trace.
        ``size`` is its :func:`span_bytes`, when the caller measured it already; ``ref`` its spool entry."""
        size = span_bytes(span) if size is None else size
        self._count += 1
        self.bytes += size
        trace_id = span.context.trace_id if span.context is not None else 0
        run_id = (span.attributes or {}).get(A.RUN_ID)
        if isinstance(run_id, str) and run_id:
            self._explicit.setdefault((run_id, trace_id), _Held()).add(span, size, ref, replayed)
            return
        written = self._written.get(trace_id)
        if written is not None:
            self._late.setdefault(trace_id, _Held()).add(span, size, ref, replayed)
            return
        pending = self._traces.get(trace_id)
        if pending is None:
            pending = self._traces[trace_id] = _Pending(first_seen=now)
        pending.add(span, size, ref, replayed)
        if is_local_root(span):
            if not pending.root_seen:
                pending.root_seen, pending.root_at = True, now

    def pop_ready(self, now: float, flush_all: bool = False, grace: float = 0.0) -> list[SpanGroup]:
        """Groups ready to write: traces whose root came ``grace`` seconds ago (or that timed out),
        explicit-run spans, and late spans of traces whose run exists. ``flush_all`` also takes traces
        still waiting."""
        groups: list[SpanGroup] = []
        for trace_id in list(self._traces):
            pending = self._traces[trace_id]
            timed_out = now - pending.first_seen >= self._timeout
            if (pending.root_seen and now - pending.root_at >= grace) or timed_out or flush_all:
                del self._traces[trace_id]
                self._remember(trace_id, _PENDING)
                groups.append(pending.group(trace_id, complete=pending.root_seen))
        for (run_id, trace_id), held in self._explicit.items():
            groups.append(held.group(trace_id, run_id=run_id))
        self._explicit.clear()
        for trace_id in list(self._late):
            run_id = self._written.get(trace_id)
            if run_id:
                held = self._late.pop(trace_id)
                groups.append(held.group(trace_id, run_id=run_id))
            elif run_id is None or flush_all:  # forgotten or never written: a run of their own
                held = self._late.pop(trace_id)
                groups.append(held.group(trace_id, complete=False))
        self._count -= sum(len(g.spans) for g in groups)
        self.bytes -= sum(g.bytes for g in groups)
        return groups

    def has_ready(self, now: float) -> bool:
        """Would :meth:`pop_ready` return anything now without a grace period (flush_all aside)?"""
        if self._explicit or any(self._written.get(t, "forgotten") for t in self._late):
            return True
        return any(p.root_seen or now - p.first_seen >= self._timeout for p in self._traces.values())

    def next_grace_end(self) -> float | None:
        """When the earliest trace whose root came leaves its grace period (for the writer's wait)."""
        return min((p.root_at for p in self._traces.values() if p.root_seen), default=None)

    def run_of(self, trace_id: int) -> str | None:
        """The run (or window marker) a recent trace was written to; None when pending or forgotten."""
        return self._written.get(trace_id) or None

    def mark_written(self, trace_id: int, run_id: str | None) -> None:
        """Record the run of a trace, so spans that arrive later join it (``None``: forget it)."""
        if run_id is None:
            self._written.pop(trace_id, None)
        else:
            self._remember(trace_id, run_id)

    def _remember(self, trace_id: int, run_id: str) -> None:
        self._written[trace_id] = run_id
        self._written.move_to_end(trace_id)
        while len(self._written) > _REMEMBERED_TRACES:
            self._written.popitem(last=False)


def span_bytes(span: ReadableSpan) -> int:
    """An estimate of the memory a finished span holds: every attribute value (arrays item by item),
    events and links with their attributes, plus a fixed overhead per object."""
    size = 400 + len(span.name or "") + _attrs_bytes(span.attributes)
    for event in span.events or ():
        size += 200 + len(event.name or "") + _attrs_bytes(event.attributes)
    for link in span.links or ():
        size += 150 + _attrs_bytes(link.attributes)
    return size


def _attrs_bytes(attributes: Any) -> int:
    return sum(60 + len(key) + _value_bytes(value) for key, value in (attributes or {}).items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return 50 + len(value)
    if isinstance(value, (list, tuple)):
        return 56 + sum(8 + _value_bytes(item) for item in value)
    if isinstance(value, dict):
        return 64 + sum(60 + len(str(k)) + _value_bytes(v) for k, v in value.items())
    return 32
