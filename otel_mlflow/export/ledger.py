"""The ledger: the one owner of everything accepted and not yet in MLflow.

It holds the spool file (what is durable), the trace buffer (spans waiting for their trace's root),
the serving windows, and the write jobs; writer threads ask it for work and tell it what happened::

    ledger = Ledger(config, options, telemetry, owned_spool)
    ledger.accept(spans, now)            # export(): spooled (one transaction), then held or spilled
    ledger.plan(now, closing=False)      # ready traces -> jobs or window records; windows -> jobs
    job = ledger.take(shard, shards, now)
    ledger.finish(job, attempt(job, writer, None))   # retire from the spool, journal, count

Memory bound and spilling: :mod:`.memory`; late children and feedback of served requests: :mod:`.late_window`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.trace_buffer import SpanGroup, TraceBuffer, span_bytes
from otel_mlflow.config import Config
from otel_mlflow.export.backlog import Backlog
from otel_mlflow.export.guarded import REFUSED, GuardedSpool
from otel_mlflow.export.jobqueue import JobQueue
from otel_mlflow.export.routing import feedback_job, trace_job, window_job, windowed
from otel_mlflow.export import LOGGER_NAME, memory, replay
from otel_mlflow.export.spool import SpoolFile, WindowRecord
from otel_mlflow.export.spool_dir import OwnedSpool
from otel_mlflow.export.stats import ExportStats
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.export.jobs import Job, Outcome
from otel_mlflow.export.late_window import is_window_marker, join_feedback, join_late, window_marker
from otel_mlflow.mapping.feedback import is_feedback_group
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.request_record import record_to_dict, request_record
from otel_mlflow.export.selftelemetry import SelfTelemetry
from otel_mlflow.mapping.window import WindowSet
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
LATE_CHILD_GRACE_SECONDS = 5.0
"""A trace is written this long after its root came (the SDK exports every 5 s): children that end after it
(streams, background work) join its one record. ``force_flush`` and exit do not wait for it."""
TAKE_OVER_EVERY_SECONDS = 5.0  # how often a live process looks for spool files of dead ones (forks, crashed replicas)
PRUNE_JOURNAL_EVERY_SECONDS = 60.0  # how often the runs journal forgets written traces beyond the last 10,000


class Ledger:
    def __init__(self, config: Config, options: MappingOptions, telemetry: SelfTelemetry,
                 owned: OwnedSpool | None) -> None:  # fmt: skip
        self.config, self.options = config, options
        self.cond = threading.Condition()
        self.stats = ExportStats(telemetry)
        self.warnings = RateLimitedLog(get_logger(LOGGER_NAME))
        self.disk = GuardedSpool(owned, self.cond, self.stats, on_failure=lambda: self._backlog.forget())
        self._buffer = TraceBuffer(config.trace_timeout)
        self._windows = WindowSet(config.window_seconds, config.window_max_requests)
        self._jobs = JobQueue()
        self._backlog = Backlog()
        self._plan_lock = threading.Lock()
        self._dirty, self._planning = True, False
        self._flushing = 0  # force_flush calls waiting: planning takes finished traces without their grace period
        self._next_take_over, self._next_prune = 0.0, time.monotonic() + PRUNE_JOURNAL_EVERY_SECONDS
        self._took_over_closing = False
        self.plans = 0  # planning passes completed (close waits for one that saw it closing)

    @property
    def spool(self) -> SpoolFile | None:
        return self.disk.spool

    @property
    def owned(self) -> OwnedSpool | None:
        return self.disk.owned

    def accept(self, spans: Sequence[ReadableSpan], now: float) -> bool:
        """Take ``spans`` whole or refuse them whole (False, counted); never waits on MLflow."""
        sizes = [span_bytes(s) for s in spans]
        batch, positions = self.disk.append_batch(spans, self.config.spool_max_bytes, self.warnings)
        with self.cond:
            self.stats.add("spans_received", len(spans))
            fits = memory.fits(self.config, self._held(), len(spans), sum(sizes))
            if batch == REFUSED or (batch is None and not fits):
                self.stats.add("spans_dropped_queue_full", len(spans))
                return False
            if batch is not None and (self._backlog or not fits):
                self._backlog.spill(batch)  # on disk only; read back when memory frees
                self.stats.add("spans_spilled", len(spans))
            else:
                for index, (span, size) in enumerate(zip(spans, sizes)):
                    ref = (batch, positions[index]) if batch is not None else None
                    self._buffer.add(span, now, size, ref)
            self._dirty = True
            self.cond.notify_all()
        return True

    def plan(self, now: float, closing: bool) -> None:
        """Turn what is ready into jobs: finished traces, window updates, spilled spans read back."""
        if not self._plan_lock.acquire(blocking=False):
            return
        try:
            with self.cond:
                self._planning = True
            if now >= self._next_take_over or (closing and not self._took_over_closing):
                self._took_over_closing = closing
                self._take_over(now)
            self._read_back(now)
            with self.cond:
                self._dirty = False
                grace = 0.0 if self._flushing else LATE_CHILD_GRACE_SECONDS
                groups = self._buffer.pop_ready(now, flush_all=closing, grace=grace)
            records: list[WindowRecord] = []
            for group in groups:
                self._route(group, now, records)
            if records:
                self.disk.call(lambda s: s.add_records(records))  # one transaction for the pass
            self._sync_windows(now, closing)
        finally:
            with self.cond:
                self._planning = False
                self.plans += 1
                self.cond.notify_all()
            self._plan_lock.release()

    def _route(self, group: SpanGroup, now: float, records: list[WindowRecord]) -> None:
        try:
            if is_window_marker(group.run_id):  # children of a filed request, ended after its grace period
                with self.cond:
                    joined = join_late(self._windows, group, records)
                    self.stats.add("spans_joined_late", len(group.spans) * joined)
                return None if joined else self._drop(group, "spans_dropped_late", "ended after their window closed")
            if windowed(group, self.config.run_mode):
                record = request_record(group.spans, self.options.capture_content, self.options.prices)
                if self.config.link_traces:  # its spans stay in the spool until its MLflow trace is linked
                    record.spans, record.spans_bytes, record.span_refs = group.spans, group.bytes, list(group.refs)
                with self.cond:
                    window = self._windows.add(record, now)
                    index = len(window.records) - 1
                    self._buffer.mark_written(group.trace_id, window_marker(window.id, index))  # late spans join
                refs = [] if record.span_refs else group.refs  # held spans are retired once the window's run has them
                return records.append((window.id, window.describe(), index, record_to_dict(record), refs))
            if is_feedback_group(group.spans):  # given after its request: joins the request's record, if it can
                with self.cond:
                    join_feedback(self._windows, self._buffer, group, records)
                job = feedback_job(group, self.options, now, self.config.window_seconds)
            else:
                trace = f"{group.trace_id:032x}"
                journal = self.disk.call(lambda s: s.run_of(trace)) if group.replayed and not group.run_id else None
                job = trace_job(group, self.options, journal)
        except Exception:  # noqa: BLE001 - one bad group must not stop the others
            _logger.exception("otel-mlflow could not map %d span(s); they are dropped", len(group.spans))
            self._drop(group, "spans_dropped_mapping_failed", None)
            return
        if job.trace is not None:
            job.state.on_create = self.disk.run_journal(job.trace)
        self._add_job(job, now)

    def _drop(self, group: SpanGroup, stat: str, why: str | None) -> None:
        self.disk.call(lambda s: s.retire(group.refs))
        with self.cond:
            self.stats.add(stat, len(group.spans))
            self._buffer.mark_written(group.trace_id, None)
        if why:
            self.warnings.warn("late", "otel-mlflow dropped %d span(s) that %s", len(group.spans), why)

    def _sync_windows(self, now: float, closing: bool) -> None:
        with self.cond:
            self._windows.close_expired(now, everything=closing)
            due = self._windows.to_sync()
            for window in due:
                window.in_flight = True
        for window in due:
            job = window_job(window, self.options)
            job.state.on_create = self.disk.window_journal(window.id)
            self._add_job(job, now)

    def _add_job(self, job: Job, now: float) -> None:
        if self.spool is None and job.deadline is None:
            job.deadline = now + self.config.retry_timeout
        with self.cond:
            self.stats.add("metrics_dropped_non_finite", job.plan.dropped_metrics)
            self._jobs.add(job)
            self.cond.notify_all()

    def _take_over(self, now: float) -> None:
        self._next_take_over = now + TAKE_OVER_EVERY_SECONDS
        if now >= self._next_prune:  # the journal remembers the last 10,000 written traces
            self._next_prune = now + PRUNE_JOURNAL_EVERY_SECONDS
            self.disk.call(lambda s: s.prune_runs())
        if self.owned is not None:
            replay.take_over(self.owned, self.disk, self._backlog, self._windows, self.stats, self.cond, now)

    def _read_back(self, now: float) -> None:
        replay.read_back(self.disk, self._backlog, self._buffer, self.stats, self.cond, self._room_to_read_back, now)

    def take(self, shard: int, shards: int, now: float) -> Job | None:
        """The next due job of this writer's shard; jobs of one key go one at a time, in order."""
        with self.cond:
            return self._jobs.take(shard, shards, now)

    def finish(self, job: Job, outcome: Outcome) -> None:
        """Settle one attempt: durable first (spool), then memory and counters."""
        if outcome is Outcome.RETRY:
            with self.cond:
                self._jobs.release(job)
                self.stats.add("writes_retried", 1)
            self.warnings.warn("retry", "otel-mlflow write failed, will retry (attempt %d): %s", job.attempts, job.error)
            return
        written = outcome is Outcome.WRITTEN
        if not written:
            self.warnings.warn("give_up", "otel-mlflow dropped %d span(s): MLflow refused the write or kept failing "
                               "until OTEL_MLFLOW_RETRY_TIMEOUT: %s", job.span_count, job.error)  # fmt: skip
        window = job.window
        if window is not None:
            closed = bool(job.plan.end_run) and job.upto == len(window.records)  # the closing write itself
            self.disk.settle_window(window.id, job.run_id or window.run_id, job.upto, closed)
        else:
            run = (job.trace, job.run_id) if written and job.trace and job.run_id else None
            self.disk.call(lambda s: s.retire(job.refs, run=run))
        with self.cond:
            self._jobs.done(job)
            self.stats.add("spans_written" if written else "spans_dropped_write_failed", job.span_count)
            if written and job.plan.run_id is None and not job.state.in_doubt and not job.plan.only_feedback:
                self.stats.add("runs_created", 1)
            if window is not None:
                if window.settle(job.upto, job.run_id, written, closing_write=bool(job.plan.end_run)):
                    self._windows.finished(window)  # else a later job writes the aggregates and ends the run
            elif job.trace is not None:
                self._buffer.mark_written(int(job.trace, 16), job.run_id if written else None)
            self.cond.notify_all()

    def flushing(self, started: bool) -> None:
        """``force_flush`` begins (every waiting retry is due now, no grace periods) or ends."""
        with self.cond:
            self._flushing += 1 if started else -1
            if started:
                self._jobs.due_now()
                self._dirty = True
            self.cond.notify_all()

    # --- state (lock held by the caller) -------------------------------------------------------
    def needs_planning(self) -> bool:
        """New spans came, or spilled ones can be read back now (else planning would spin)."""
        return self._dirty or (bool(self._backlog) and self._room_to_read_back())

    def next_planning(self) -> float | None:
        """When a trace's grace period ends: planning is due then."""
        root_at = self._buffer.next_grace_end()
        return None if root_at is None else root_at + LATE_CHILD_GRACE_SECONDS

    def _room_to_read_back(self) -> bool:
        stuck = not self._jobs and not self._buffer.has_ready(time.monotonic())
        return memory.room_to_read_back(self.config, self._held(), stuck)

    def next_due(self) -> float | None:
        return self._jobs.next_due()

    def settled(self, now: float) -> bool:
        """Nothing ready is left unwritten (traces still waiting for their root do not count)."""
        pending_windows = any(w.pending or w.in_flight for w in self._windows.all())
        return (not self._planning and not self._jobs and not self._backlog and not pending_windows
                and not self._buffer.has_ready(now))  # fmt: skip

    def empty(self) -> bool:
        return not (self._planning or self._jobs or self._backlog or len(self._buffer) or len(self._windows))

    def left(self) -> int:
        """Spans (and window requests) not yet in MLflow: the progress display's count."""
        unsynced = sum(w.pending for w in self._windows.all())
        spool = self.spool
        return unsynced + (spool.span_count if spool is not None else self._held()[0])

    def drop_all(self) -> int:
        """Without a spool, at exit: forget what is left; returns how many spans that was."""
        lost = self._held()[0]
        self._jobs.clear()
        self._buffer.pop_ready(time.monotonic(), flush_all=True)
        self._windows = WindowSet(self.config.window_seconds, self.config.window_max_requests)
        return lost

    def _held(self) -> memory.Held:
        return memory.held(self._buffer, self._jobs, self._windows)

    def memory_held(self) -> memory.Held:
        """(spans, estimated bytes) held in memory now; spilled spans wait on disk and are not counted."""
        with self.cond:
            return self._held()

    def room_bytes(self) -> int:
        """Bytes more the exporter takes before refusing: spool disk, or memory without a spool."""
        with self.cond:
            return memory.room_bytes(self.config, self.spool, self._held())

