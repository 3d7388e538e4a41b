"""``MLflowSpanExporter``: an OpenTelemetry span exporter that writes spans as MLflow runs.

Zero-code::

    OTEL_TRACES_EXPORTER=mlflow opentelemetry-instrument python app.py

In code::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from otel_mlflow import MLflowSpanExporter

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(MLflowSpanExporter(experiment_name="rag")))
    trace.set_tracer_provider(provider)

``export()`` only files spans in memory and returns at once; a writer thread maps each finished
trace to one MLflow run (``OTEL_MLFLOW_RUN_MODE=trace``) and writes it, retrying transient failures
with jittered backoff within ``OTEL_MLFLOW_RETRY_TIMEOUT``. Spans carrying ``otel_mlflow.run_id`` go to
that run. Memory is bounded by ``OTEL_MLFLOW_MAX_QUEUE_SIZE`` spans; past it spans are dropped and
counted (:attr:`MLflowSpanExporter.stats`) with one rate-limited warning. Settings: see
:mod:`otel_mlflow.config`.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_mlflow import attributes as A
from otel_mlflow.buffer import SpanGroup, TraceBuffer
from otel_mlflow.config import Config
from otel_mlflow.mapping import MappingOptions, RunPlan, plan_run
from otel_mlflow.writer import MLflowWriter, PermanentWriteError, WriteState, run_is_missing

_logger = logging.getLogger(__name__)
_LIVE: weakref.WeakSet[MLflowSpanExporter] = weakref.WeakSet()
_WARN_EVERY_SECONDS = 60.0
_MAX_BACKOFF = 30.0


@dataclass
class ExportStats:
    """Counters since the exporter started. Read a copy with :attr:`MLflowSpanExporter.stats`."""

    spans_received: int = 0
    spans_written: int = 0
    spans_dropped_queue_full: int = 0
    spans_dropped_write_failed: int = 0
    spans_dropped_mapping_failed: int = 0
    runs_created: int = 0
    writes_retried: int = 0
    metrics_dropped_non_finite: int = 0


@dataclass
class _Job:
    group: SpanGroup
    plan: RunPlan
    state: WriteState
    deadline: float
    next_try: float = 0.0
    attempts: int = 0


class MLflowSpanExporter(SpanExporter):
    """Writes finished spans to MLflow as runs, params, metrics, tags and artifacts.

    Args:
        config: a resolved :class:`~otel_mlflow.config.Config`; when omitted, built from
            ``settings`` (keyword arguments named like the Config fields) and the environment.
    """

    def __init__(self, config: Config | None = None, **settings: Any) -> None:
        self._config = config if config is not None else Config.from_env(**settings)
        self._options = MappingOptions(
            capture_content=self._config.capture_content,
            max_text_chars=self._config.max_text_chars,
            log_spans=self._config.log_spans,
        )
        self._stats = ExportStats()
        self._warned_at: dict[str, float] = {}
        self._init_state()
        _LIVE.add(self)

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._buffer = TraceBuffer(self._config.trace_timeout)
        self._jobs: list[_Job] = []
        self._writer = MLflowWriter(self._config)
        self._thread: threading.Thread | None = None
        self._closing = False
        self._shutdown = False
        self._flush_seq = 0
        self._done_seq = 0
        self._urgent = False

    @property
    def config(self) -> Config:
        return self._config

    @property
    def stats(self) -> ExportStats:
        """A snapshot of the exporter's counters."""
        with self._cond:
            return replace(self._stats)

    def room(self) -> int:
        """How many more spans fit before ``OTEL_MLFLOW_MAX_QUEUE_SIZE`` (the receiver answers 503 past it)."""
        with self._cond:
            return max(0, self._config.max_queue_size - len(self._buffer) - self._jobs_spans())

    # --- SpanExporter API --------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """File ``spans`` for writing. Never raises, never waits on MLflow."""
        try:
            self._after_fork_check()
            if self._shutdown or self._closing:
                return SpanExportResult.FAILURE
            now = time.monotonic()
            dropped = 0
            with self._cond:
                self._stats.spans_received += len(spans)
                for span in spans:
                    if len(self._buffer) + self._jobs_spans() >= self._config.max_queue_size:
                        dropped += 1
                        continue
                    self._buffer.add(span, now)
                self._stats.spans_dropped_queue_full += dropped
                self._ensure_worker()
                self._cond.notify_all()
            if dropped:
                self._warn(
                    "queue_full",
                    "otel-mlflow dropped %d span(s): %d spans already wait for MLflow "
                    "(OTEL_MLFLOW_MAX_QUEUE_SIZE); is the tracking store reachable?",
                    dropped,
                    self._config.max_queue_size,
                )
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS
        except Exception:  # noqa: BLE001 - export must never raise into the SDK
            _logger.exception("otel-mlflow could not accept %d span(s)", len(spans))
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every finished trace and retry pending writes now; False if not done in time.

        Traces still waiting for their root span stay buffered (their root is not finished yet).
        """
        self._after_fork_check()
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            if self._thread is None:
                return not self._jobs
            self._flush_seq += 1
            target = self._flush_seq
            self._urgent = True
            self._cond.notify_all()
            while self._done_seq < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Write everything still buffered (incomplete traces too), then stop. Safe to call twice."""
        with self._cond:
            if self._shutdown:
                return
            self._closing = True
            self._urgent = True
            thread = self._thread if self._pid == os.getpid() else None
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout_millis / 1000)
            if thread.is_alive():
                with self._cond:
                    self._drop_remaining()
                    self._buffer = TraceBuffer(self._config.trace_timeout)
        self._shutdown = True
        _LIVE.discard(self)

    # --- writer thread ---------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otel-mlflow-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        closing_deadline: float | None = None
        while True:
            with self._cond:
                self._wait_for_work()
                if self._closing and closing_deadline is None:
                    closing_deadline = time.monotonic() + min(self._config.retry_timeout, 30.0)
                seq, urgent = self._flush_seq, self._urgent
                self._urgent = False
                groups = self._buffer.pop_ready(time.monotonic(), flush_all=self._closing)
            try:
                self._plan_groups(groups)
                self._run_jobs(urgent, closing_deadline)
            except Exception:  # noqa: BLE001 - the writer thread must survive our own bugs
                _logger.exception("otel-mlflow writer cycle failed")
            with self._cond:
                if not self._jobs:
                    self._done_seq = max(self._done_seq, seq)
                    self._cond.notify_all()
                if self._closing and (not self._jobs and not len(self._buffer) or closing_deadline_passed(closing_deadline)):
                    self._drop_remaining()
                    return

    def _wait_for_work(self) -> None:
        if self._urgent:
            return
        next_job = min((j.next_try for j in self._jobs), default=None)
        until_job = None if next_job is None else max(0.0, next_job - time.monotonic())
        if self._closing:
            if until_job is not None and not len(self._buffer):
                self._cond.wait(until_job)
            return
        timeout = self._config.flush_interval
        self._cond.wait(timeout if until_job is None else min(timeout, until_job))

    def _plan_groups(self, groups: list[SpanGroup]) -> None:
        now = time.monotonic()
        for group in groups:
            try:
                plan = self._plan(group)
            except Exception:  # noqa: BLE001 - one bad group must not stop the others
                _logger.exception("otel-mlflow could not map %d span(s); they are dropped", len(group.spans))
                with self._cond:
                    self._stats.spans_dropped_mapping_failed += len(group.spans)
                    self._buffer.mark_written(group.trace_id, None)
                continue
            job = _Job(group, plan, WriteState(), deadline=now + self._config.retry_timeout)
            with self._cond:
                self._stats.metrics_dropped_non_finite += plan.dropped_metrics
                self._jobs.append(job)

    def _plan(self, group: SpanGroup) -> RunPlan:
        prefix = f"traces/{group.trace_id:032x}/" if group.run_id else ""
        plan = plan_run(group.spans, self._options, run_id=group.run_id, artifact_prefix=prefix)
        if not group.complete:
            plan.tags[A.TAG_INCOMPLETE] = "true"
        return plan

    def _run_jobs(self, urgent: bool, closing_deadline: float | None) -> None:
        now = time.monotonic()
        with self._cond:
            due = [j for j in self._jobs if urgent or j.next_try <= now]
        for job in due:
            if self._attempt(job, closing_deadline):
                with self._cond:
                    self._jobs.remove(job)

    def _attempt(self, job: _Job, closing_deadline: float | None) -> bool:
        """Try one write; True when the job is finished (written or given up)."""
        spans = len(job.group.spans)
        try:
            run_id = self._writer.write(job.plan, job.state, job.group.spans)
        except PermanentWriteError as exc:
            if job.plan.run_id is not None and run_is_missing(exc):
                self._retarget_to_new_run(job)
                return False
            self._give_up(job, "MLflow refused the write: %s", exc)
            return True
        except Exception as exc:  # noqa: BLE001 - transient: retry with backoff
            now = time.monotonic()
            deadline = min(job.deadline, closing_deadline) if closing_deadline else job.deadline
            if now >= deadline:
                self._give_up(job, "MLflow kept failing until the retry deadline: %s", exc)
                return True
            job.attempts += 1
            job.next_try = now + _backoff(job.attempts)
            with self._cond:
                self._stats.writes_retried += 1
            self._warn("retry", "otel-mlflow write failed, will retry (attempt %d): %s", job.attempts, exc)
            return False
        with self._cond:
            self._stats.spans_written += spans
            if job.plan.run_id is None:
                self._stats.runs_created += 1
                self._buffer.mark_written(job.group.trace_id, run_id)
        return True

    def _retarget_to_new_run(self, job: _Job) -> None:
        self._warn("missing_run", "otel-mlflow: run %s does not exist; writing its spans to a new run", job.plan.run_id)
        job.plan.tags[A.TAG_MISSING_RUN] = job.plan.run_id or ""
        job.plan.run_id = None
        job.plan.run_name = job.plan.run_name or "orphaned-spans"
        job.state = WriteState()

    def _give_up(self, job: _Job, message: str, exc: BaseException) -> None:
        with self._cond:
            self._stats.spans_dropped_write_failed += len(job.group.spans)
            if job.plan.run_id is None:
                self._buffer.mark_written(job.group.trace_id, None)
        self._warn("give_up", "otel-mlflow dropped %d span(s). " + message, len(job.group.spans), exc)

    def _drop_remaining(self) -> None:
        lost = len(self._buffer) + self._jobs_spans()
        if lost:
            self._stats.spans_dropped_write_failed += lost
            _logger.warning("otel-mlflow shut down with %d span(s) not written", lost)
        self._jobs.clear()

    # --- helpers -------------------------------------------------------------------------------
    def _jobs_spans(self) -> int:
        return sum(len(j.group.spans) for j in self._jobs)

    def _after_fork_check(self) -> None:
        """In a forked child, start with an empty state: the parent writes its own spans."""
        if self._pid != os.getpid():
            self._init_state()

    def _warn(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        last = self._warned_at.get(key)
        if last is None or now - last >= _WARN_EVERY_SECONDS:
            self._warned_at[key] = now
            _logger.warning(message, *args)


def live_exporters() -> list[MLflowSpanExporter]:
    """Every MLflowSpanExporter of this process not shut down yet (whoever made it)."""
    return list(_LIVE)


def _backoff(attempt: int) -> float:
    """Jittered exponential backoff: about 0.5 s, 1 s, 2 s, ... capped at 30 s."""
    return min(_MAX_BACKOFF, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)


def closing_deadline_passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline
