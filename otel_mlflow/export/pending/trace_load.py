"""What the adaptive trace policy measures: the pace of the trace store, the arrival of requests, the traces
waiting to be stored, each configuration's recent latencies. A plain structure: the ledger holds its lock.

Usage (the ledger)::

    load = TraceLoad(TracePolicy.parse("adaptive"), bound_seconds=10.0)
    why = load.decide(record, now)                  # when a request is filed, or a trace's run planned
    load.stored(traces=50, seconds=0.9)             # a write that stored traces ended (landed or not)
"""

from __future__ import annotations

import bisect
from collections import deque

from otel_mlflow import attributes as A
from otel_mlflow.export.pending.jobs import Job
from otel_mlflow.export.pending.routing import decision_record
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.trace_policy import Load, TracePolicy, Why, decide

ARRIVAL_WINDOW_SECONDS = 10.0
NEW_CONFIGURATION_REQUESTS = 5
"""The first requests of a configuration this process had not seen: their traces are kept."""
RECENT_LATENCIES = 200
MIN_RATIO = 0.01
PER_SECOND_ABOVE = 5.0
"""``OTEL_MLFLOW_STEPS=auto``: a window first written while requests come faster than this (a second) gets per-second
points
(a step per request would be more points than a chart shows, and the run lane's cost would grow with the rate)."""
ASSUMED_TRACES_PER_SECOND = 50.0
"""The trace store's pace until a write measured it (MLflow stores a trace in ~10-20 ms): a burst that comes before
the first trace is stored is decided against this, not against an unknown (which would keep every trace)."""


class TraceLoad:
    def __init__(self, policy: TracePolicy, bound_seconds: float) -> None:
        self.policy = policy
        self.bound_seconds = bound_seconds
        self.waiting = 0
        """Traces decided stored and not yet in MLflow."""
        self.sampled_out = 0
        """Traces the policy left out (not ``off``): their requests' numbers are written, their traces not."""
        self._pace: float | None = None  # traces stored per second (moving average); None: not measured yet
        self._arrivals: deque[float] = deque()
        self._latencies: dict[object, list[float]] = {}
        self._recent: dict[object, deque[float]] = {}

    def decide(self, record: RequestRecord, now: float) -> Why:
        """Whether ``record``'s trace is stored; counts it as waiting when it is."""
        self._arrivals.append(now)
        while self._arrivals and self._arrivals[0] < now - ARRIVAL_WINDOW_SECONDS:
            self._arrivals.popleft()
        key = record.window_key
        sorted_recent = self._latencies.setdefault(key, [])
        load = Load(self.backlog_seconds(), self._ratio(), _p95(sorted_recent),
                    len(sorted_recent) < NEW_CONFIGURATION_REQUESTS, self.bound_seconds)  # fmt: skip
        self._remember(key, record.latency_ms)
        why = decide(self.policy, record, load)
        self.waiting += why.stored
        self.sampled_out += why is Why.OUT
        return why

    def keep(self, record: RequestRecord, now: float) -> bool:
        """Decide for a served request: its ``trace`` field says the decision (None with the policy off); True when
        its trace is to be stored."""
        why = self.decide(record, now)
        record.trace = None if why is Why.OFF else why.value
        return why.stored

    def keep_for_run(self, job: Job, now: float) -> None:
        """Decide for a per-trace run's job: without its trace, the job carries no spans to store; the run's tag
        ``otel_mlflow.trace`` says the decision."""
        if job.follow is None:
            return
        why = self.decide(decision_record(job), now)
        if not why.stored:
            job.follow = None
        if why is not Why.OFF:
            job.plan.tags[A.TAG_TRACE_DECISION] = why.value

    def per_second(self, steps: str, now: float) -> bool:
        """Whether a window first written now gets per-second points (``OTEL_MLFLOW_STEPS``: ``second``, or ``auto``
        past :data:`PER_SECOND_ABOVE` requests a second, over the last 10 s or since the first request if later)."""
        if steps != "auto" or not self._arrivals:
            return steps == "second"
        elapsed = max(1.0, min(ARRIVAL_WINDOW_SECONDS, now - self._arrivals[0]))
        return len(self._arrivals) / elapsed > PER_SECOND_ABOVE

    def ended(self, job: Job, now: float) -> None:
        """The write of a job that carried traces ended (landed, or given up)."""
        self.stored(len({s.context.trace_id for s in job.spans if s.context}), now - job.taken_at)

    def stored(self, traces: int, seconds: float) -> None:
        """A write carrying ``traces`` traces ended after ``seconds``: they no longer wait; the pace is measured."""
        self.waiting = max(0, self.waiting - traces)
        if traces and seconds > 0:
            pace = traces / seconds
            self._pace = pace if self._pace is None else 0.8 * self._pace + 0.2 * pace

    @property
    def pace(self) -> float:
        """Traces stored per second: measured, or assumed until measured."""
        return self._pace or ASSUMED_TRACES_PER_SECOND

    def backlog(self) -> tuple[int, float, int]:
        """(traces waiting to be stored, the seconds that takes at the measured pace, traces sampled out so far)."""
        return self.waiting, round(self.backlog_seconds(), 3), self.sampled_out

    def backlog_seconds(self) -> float:
        return self.waiting / self.pace

    def _ratio(self) -> float:
        """The share of the other traces to keep: what the store keeps up with of the arrivals, less the further the
        backlog is past its bound (so that it comes back under it)."""
        arriving = len(self._arrivals) / ARRIVAL_WINDOW_SECONDS
        if not arriving:
            return 1.0
        behind = self.backlog_seconds()
        catch_up = 1.0 if behind <= self.bound_seconds else self.bound_seconds / behind
        return min(1.0, max(MIN_RATIO, min(1.0, self.pace / arriving) * catch_up))

    def _remember(self, key: object, latency: float) -> None:
        recent = self._recent.setdefault(key, deque())
        ordered = self._latencies[key]
        recent.append(latency)
        bisect.insort(ordered, latency)
        if len(recent) > RECENT_LATENCIES:
            ordered.pop(bisect.bisect_left(ordered, recent.popleft()))


def _p95(ordered: list[float]) -> float | None:
    return ordered[int(0.95 * (len(ordered) - 1))] if len(ordered) >= 20 else None
