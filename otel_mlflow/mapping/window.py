"""Serving windows: one MLflow run per (service, configuration) per time window. Pure: no I/O, no clock.

``OTEL_MLFLOW_RUN_MODE=window`` (and ``auto`` for traces whose root is a SERVER span) groups requests; the
windows of a process are kept by :class:`otel_mlflow.export.pending.windows.WindowSet`::

    window = Window(key, service, params, opened_at=now)
    window.records.append(request_record(spans))
    plan, upto = window_plan(window, MappingOptions(), time.time())   # new requests; aggregates when closed

Each request adds steps to ``latency_ms``, ``gen_ai.usage.input_tokens`` and ``gen_ai.usage.output_tokens``,
stamped with the request's own time; a window with ``per_second`` points instead adds a point per second of request
ends, once that second has settled (:mod:`.window_points`). A closed window adds aggregates (latency
p50/p95/p99, request and error counts, error rate, token totals, tokens per second, time to first chunk p50/p95
when requests streamed, requests per feedback value ``feedback.<value>``) and ``predictions.json``, a table the
MLflow UI shows (question, answer, latency, tokens, status, feedback, trace id, a failed request's error, cost,
time to first chunk). A window's run is written only by the process that opened it: a restarted process opens new
windows and never touches old runs.
"""

from __future__ import annotations

import enum
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from otel_mlflow import attributes as A
from otel_mlflow.mapping.eval_cases import eval_cases
from otel_mlflow.mapping.model_change import model_entries
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.run_plan import MappingOptions, PlanBuilder, RunPlan
from otel_mlflow.mapping.slo import slo_alert
from otel_mlflow.mapping.window_points import Points, closing_points, iso, per_second_points


class WindowState(enum.Enum):
    """Where a window stands; each move is one method of :class:`Window` (named beside each state)."""

    OPEN = "open"
    """Takes requests; no write in flight. ``start_write`` -> SYNCING, ``close`` -> CLOSED."""
    SYNCING = "syncing"
    """Takes requests; a write of its new requests is in flight. ``settle`` -> OPEN, ``close`` -> CLOSING."""
    CLOSED = "closed"
    """Takes no requests (its time or size is up, exit, or restored from a dead process's spool); its closing write
    is due, and late spans and feedback still join its records. ``start_write`` -> CLOSING."""
    CLOSING = "closing"
    """Closed, with a write in flight (its closing write, or a last step sync): nothing joins any more.
    ``settle`` -> FINISHED after the closing write of every record, else CLOSED."""
    FINISHED = "finished"
    """Its closing write landed or was given up: forgotten (and dropped from the spool)."""


@dataclass(eq=False)
class Window:
    key: Any
    service: str
    params: dict[str, str]
    opened_at: float
    records: list[RequestRecord] = field(default_factory=list)
    synced: int = 0
    run_id: str | None = None
    state: WindowState = WindowState.OPEN
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Names the window's run (tag ``otel_mlflow.write_key``) and its entry in the spool."""
    in_doubt: bool = False
    """Restored from a crashed process that may have created its run already."""
    per_second: bool = False
    """Its metric points are per-second aggregates, not a step per request (``OTEL_MLFLOW_STEPS``)."""
    points: Points | None = None
    """Per second: the second its steps count from, and the last second whose point is logged (later ones only)."""
    previous_models: tuple[str, ...] = ()
    """The models that answered the last closed window of this configuration in this process: a change is told."""
    lateness: float = 0.0
    """Per second: how long after their end its requests were filed, the most seen (when seconds settle)."""

    def describe(self) -> dict[str, Any]:
        """What the spool keeps of the window besides its records (plain JSON values)."""
        return {"service": self.service, "params": self.params, "steps": "second" if self.per_second else "request"}

    @property
    def pending(self) -> int:
        return len(self.records) - self.synced

    @property
    def closed(self) -> bool:
        """It takes no more requests."""
        return self.state in (WindowState.CLOSED, WindowState.CLOSING, WindowState.FINISHED)

    @property
    def in_flight(self) -> bool:
        return self.state in (WindowState.SYNCING, WindowState.CLOSING)

    @property
    def joinable(self) -> bool:
        """Late spans and feedback may still change its records (its closing write is not planned yet)."""
        return self.state in (WindowState.OPEN, WindowState.SYNCING, WindowState.CLOSED)

    @property
    def needs_sync(self) -> bool:
        return self.state is WindowState.CLOSED or (self.state is WindowState.OPEN and self.pending > 0)

    def close(self) -> None:
        """OPEN -> CLOSED, SYNCING -> CLOSING (a closed window stays as it is)."""
        if self.state is WindowState.OPEN:
            self.state = WindowState.CLOSED
        elif self.state is WindowState.SYNCING:
            self.state = WindowState.CLOSING

    def start_write(self) -> None:
        """A write of its new records (and, when closed, its closing write) is planned: OPEN -> SYNCING,
        CLOSED -> CLOSING."""
        self.state = WindowState.CLOSING if self.closed else WindowState.SYNCING

    def settle(
        self, upto: int, run_id: str | None, written: bool, closing_write: bool, points: Points | None = None
    ) -> WindowState:
        """A write of the records up to ``upto`` landed (``written``) or was given up: their spans are freed (linked
        by now), the window advances: SYNCING -> OPEN; CLOSING -> FINISHED when this was the closing write of every
        record, else CLOSED. Returns the new state."""
        for record in self.records[self.synced : upto]:
            record.spans, record.spans_bytes = (), 0
        if written:
            self.run_id, self.in_doubt = run_id, False
        self.synced, self.points = upto, points or self.points
        if self.state is WindowState.SYNCING:
            self.state = WindowState.OPEN
        elif closing_write and self.synced == len(self.records):
            self.state = WindowState.FINISHED
        else:
            self.state = WindowState.CLOSED
        return self.state


SECOND_SETTLES_SECONDS = 7
"""A second's point is logged at least this long after it (requests are filed ~5 s after they end, late children
joined), longer when the window's requests come later than that (a Collector's batches): at most
:data:`MAX_LATENESS_SECONDS`. A request filed after its second's point counts in the next point."""
MAX_LATENESS_SECONDS = 120.0


def _settled_before(window: Window, new: list[RequestRecord], wall_now: float) -> int:
    """The first second not settled at ``wall_now``: the window's lateness (how long after their end its requests
    are filed, the most seen) is measured on its new requests."""
    late = max((wall_now - r.end_ns / 1e9 for r in new), default=0.0)
    window.lateness = min(MAX_LATENESS_SECONDS, max(window.lateness, late))
    return int(wall_now - max(SECOND_SETTLES_SECONDS, window.lateness + 1))


def window_plan(window: Window, options: MappingOptions, wall_now: float | None = None) -> tuple[RunPlan, int]:
    """The writes that bring ``window``'s run up to date at ``wall_now`` (the time of day: per second, which seconds
    are settled; None: every second so far); returns (plan, records covered)."""
    upto = len(window.records)
    new = window.records[window.synced : upto]
    first = window.records[0]
    plan = RunPlan(
        trace_id=(new or window.records)[-1].trace_id,
        run_id=window.run_id,
        end_run=window.closed,
        identity=(A.TAG_WRITE_KEY, f"w-{window.id}"),
    )
    builder = PlanBuilder(plan, options)
    if window.run_id is None:
        name = window_run_name(window.service, window.params, first.start_ns)
        plan.run_name = options.scrubber.text(f"{name} [{options.replica}]" if options.replica_in_name else name)
        plan.start_ms = first.start_ns // 1_000_000
        for key, value in window.params.items():
            builder.param(key, value)
        builder.tag(A.TAG_SERVICE_NAME, window.service)
        builder.tag(A.TAG_RUN_MODE, "window")
        builder.tag(A.TAG_TRACE_POLICY, options.trace_policy)
        builder.tag(A.TAG_STEPS, "second" if window.per_second else "request")
        builder.tag(A.TAG_REPLICA, options.replica or None)
        builder.tag(A.TAG_WINDOW_START, iso(first.start_ns))
    if window.per_second:
        settled = None if window.closed or wall_now is None else _settled_before(window, new, wall_now)
        plan.points = per_second_points(builder, window.records[:upto], window.points, settled)
    for index, record in enumerate([] if window.per_second else new, start=window.synced):
        ts = record.end_ns // 1_000_000
        builder.metric(A.METRIC_LATENCY, record.latency_ms, ts, index, absolute=True)
        builder.metric(A.GEN_AI_USAGE_INPUT_TOKENS, record.input_tokens, ts, index, absolute=True)
        builder.metric(A.GEN_AI_USAGE_OUTPUT_TOKENS, record.output_tokens, ts, index, absolute=True)
        for key, count in record.detail_tokens.items():
            builder.metric(key, count, ts, index, absolute=True)
        builder.metric(A.METRIC_COST, record.cost_usd, ts, index, absolute=True)
        builder.metric(A.METRIC_TTFC, record.time_to_first_chunk_ms, ts, index, absolute=True)
    if new:
        builder.tag(A.TAG_TRACE_ID, new[-1].trace_id)
    plan.end_ms = max(r.end_ns for r in window.records[:upto]) // 1_000_000
    if window.closed:
        closing_points(builder, window.records[:upto], plan.end_ms)
        model_entries(builder, window.params.get("model"), window.records[:upto], window.previous_models)
        if plan.slo_breaches:
            plan.alert = slo_alert(builder, window.service, window.params, first.start_ns)
        if options.eval_rule is not None and options.capture_content:
            records = window.records[:upto]
            plan.eval_cases = eval_cases(records, options.eval_rule, window.service, window.params, options.scrubber)
    plan.dropped_tokens = sum(r.dropped_tokens for r in window.records[:upto])  # the window's whole count so far
    plan.backwards_spans = sum(r.backwards_spans for r in window.records[:upto])
    late = sum(r.late_spans for r in window.records[:upto])
    if late:
        builder.tag(A.TAG_LATE_SPANS, str(late))
    builder.finish()
    return plan, upto


def window_run_name(service: str, params: dict[str, str], start_ns: int) -> str:
    """``rag-api k=2 model=gpt-4 2026-11-26 12:31:05``: the service, the configuration its requests share (what
    tells two windows of one minute apart, in run lists and chart legends alike), the window's start (UTC)."""
    config = " ".join(f"{key}={value}" for key, value in sorted(params.items()))
    if len(config) > CONFIG_IN_NAME_CHARS:
        config = config[: CONFIG_IN_NAME_CHARS - 1] + "…"
    return " ".join(part for part in (service, config, _clock(start_ns)) if part)[:200]


CONFIG_IN_NAME_CHARS = 80


def _clock(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns / 1e9))
