"""Which run a group of spans goes to, as write jobs: a run per trace, or a serving window's run.

Used by the exporter's writer thread, under the exporter's lock where it touches shared state.
``OTEL_MLFLOW_RUN_MODE``: ``trace`` (a run per trace), ``window`` (a run per service and configuration
per window), ``auto`` (window for traces whose root is a SERVER span, a run per trace otherwise).
Spans that name a run (``otel_mlflow.run_id``), and late spans of a written trace, go to that run in
every mode.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from otel_mlflow import attributes as A
from otel_mlflow.buffer import SpanGroup, TraceBuffer
from otel_mlflow.extract import is_local_root
from otel_mlflow.config import Config
from otel_mlflow.jobs import Job
from otel_mlflow.mapping import MappingOptions, plan_run
from otel_mlflow.request_record import request_record
from otel_mlflow.window import Window, WindowSet, window_plan

_logger = logging.getLogger(__name__)


class Router:
    def __init__(self, config: Config, options: MappingOptions, buffer: TraceBuffer, lock: threading.Condition,
                 count: Callable[[str, int], None]) -> None:  # fmt: skip
        self.config = config
        self.options = options
        self.buffer = buffer
        self.lock = lock
        self.count = count  # count(stat_name, n), called with the lock held
        self.jobs: list[Job] = []
        self.windows = WindowSet(config.window_seconds, config.window_max_requests)

    # --- groups -> jobs -------------------------------------------------------------------
    def route(self, groups: list[SpanGroup], now: float) -> None:
        for group in groups:
            try:
                if group.run_id is None and group.complete and self._windowed(group):
                    record = request_record(group.spans, self.options.capture_content)
                    if self.config.link_traces:
                        record.spans, record.spans_bytes = group.spans, group.bytes
                    with self.lock:
                        self.windows.add(record, now)
                        self.buffer.mark_written(group.trace_id, None)  # late spans: a run of their own
                    continue
                job = self._trace_job(group, now)
            except Exception:  # noqa: BLE001 - one bad group must not stop the others
                _logger.exception("otel-mlflow could not map %d span(s); they are dropped", len(group.spans))
                with self.lock:
                    self.count("spans_dropped_mapping_failed", len(group.spans))
                    self.buffer.mark_written(group.trace_id, None)
                continue
            with self.lock:
                self.count("metrics_dropped_non_finite", job.plan.dropped_metrics)
                self.jobs.append(job)

    def _windowed(self, group: SpanGroup) -> bool:
        mode = self.config.run_mode
        if mode == "trace":
            return False
        if mode == "window":
            return True
        return any(s.kind.name == "SERVER" and is_local_root(s) for s in group.spans)

    def _trace_job(self, group: SpanGroup, now: float) -> Job:
        prefix = f"traces/{group.trace_id:032x}/" if group.run_id else ""
        plan = plan_run(group.spans, self.options, run_id=group.run_id, artifact_prefix=prefix)
        if not group.complete:
            plan.tags[A.TAG_INCOMPLETE] = "true"
        creates_run = plan.run_id is None

        def written(run_id: str) -> None:
            with self.lock:
                self.count("spans_written", len(group.spans))
                if plan.run_id is None:
                    self.count("runs_created", 1)
                if creates_run:
                    self.buffer.mark_written(group.trace_id, run_id)

        def dropped() -> None:
            with self.lock:
                self.count("spans_dropped_write_failed", len(group.spans))
                if creates_run:
                    self.buffer.mark_written(group.trace_id, None)

        job = Job(plan, len(group.spans), now + self.config.retry_timeout, group.spans, written, dropped)
        job.held_bytes = group.bytes + sum(len(t) for t in plan.artifacts.values())
        return job

    # --- windows -> jobs ------------------------------------------------------------------
    def sync_windows(self, now: float, closing: bool) -> None:
        """One job per window with new requests (one log_batch per run per cycle); closed ones finish."""
        with self.lock:
            self.windows.close_expired(now, everything=closing)
            due = self.windows.to_sync()
            for window in due:
                window.in_flight = True
        for window in due:
            plan, upto = window_plan(window, self.options)
            new = window.records[window.synced : upto]
            spans = sum(r.span_count for r in new)
            job = Job(plan, spans, now + self.config.retry_timeout, [s for r in new for s in r.spans],
                      on_written=self._window_written(window, upto, spans),
                      on_dropped=self._window_dropped(window, upto, spans))  # fmt: skip
            job.held_bytes = sum(r.held_bytes() for r in new)
            with self.lock:
                self.count("metrics_dropped_non_finite", plan.dropped_metrics)
                self.jobs.append(job)

    def _window_written(self, window: Window, upto: int, spans: int) -> Callable[[str], None]:
        def written(run_id: str) -> None:
            with self.lock:
                if window.run_id is None:
                    self.count("runs_created", 1)
                for record in window.records[window.synced : upto]:
                    record.spans, record.spans_bytes = (), 0  # linked now: free them
                window.run_id, window.synced, window.in_flight = run_id, upto, False
                self.count("spans_written", spans)
                if window.closed and window.synced == len(window.records):
                    self.windows.finished(window)

        return written

    def _window_dropped(self, window: Window, upto: int, spans: int) -> Callable[[], None]:
        def dropped() -> None:
            with self.lock:
                window.synced, window.in_flight = upto, False
                self.count("spans_dropped_write_failed", spans)
                if window.closed:
                    self.windows.finished(window)

        return dropped

    # --- bookkeeping (lock held) ------------------------------------------------------------
    def held_spans(self) -> int:
        """Spans planned but not written: in jobs, and in windows' requests not yet synced."""
        in_jobs = sum(j.span_count for j in self.jobs)
        unsynced = sum(w.pending_spans() for w in self.windows.all() if not w.in_flight)
        return in_jobs + unsynced

    def held_bytes(self) -> int:
        in_jobs = sum(j.held_bytes for j in self.jobs)
        unsynced = sum(r.held_bytes() for w in self.windows.all() if not w.in_flight for r in w.records[w.synced :])
        return in_jobs + unsynced

    def idle(self) -> bool:
        return not self.jobs and not len(self.windows)

    def drop_all(self) -> int:
        lost = self.held_spans()
        self.jobs.clear()
        self.windows = WindowSet(self.config.window_seconds, self.config.window_max_requests)
        return lost
