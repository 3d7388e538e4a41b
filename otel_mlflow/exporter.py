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
trace to one MLflow run (``OTEL_MLFLOW_RUN_MODE=trace``) or to its serving window's run (``window``,
``auto``; see :mod:`otel_mlflow.routing`) and writes it, retrying transient failures
with jittered backoff within ``OTEL_MLFLOW_RETRY_TIMEOUT``. Spans carrying ``otel_mlflow.run_id`` go to
that run. Memory is bounded by ``OTEL_MLFLOW_MAX_QUEUE_SIZE`` spans; past it spans are dropped and
counted (:attr:`MLflowSpanExporter.stats`) with one rate-limited warning. Settings: see
:mod:`otel_mlflow.config`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_mlflow.buffer import TraceBuffer, span_bytes
from otel_mlflow.config import Config
from otel_mlflow.jobs import Outcome, attempt
from otel_mlflow.mapping import MappingOptions
from otel_mlflow.routing import Router
from otel_mlflow.selftelemetry import SelfTelemetry
from otel_mlflow.writer import MLflowWriter

_logger = logging.getLogger(__name__)
_LIVE: weakref.WeakSet[MLflowSpanExporter] = weakref.WeakSet()
_WARN_EVERY_SECONDS = 60.0
_MAX_CLOSING_SECONDS = 30.0


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


class MLflowSpanExporter(SpanExporter):
    """Writes finished spans to MLflow as runs, params, metrics, tags and artifacts.

    Args:
        config: a resolved :class:`~otel_mlflow.config.Config`; when omitted, built from
            ``settings`` (keyword arguments named like the Config fields) and the environment.
        meter_provider: where the exporter's own counters go (default: the global MeterProvider).
    """

    def __init__(self, config: Config | None = None, *, meter_provider: Any = None, **settings: Any) -> None:
        self._config = config if config is not None else Config.from_env(**settings)
        self._telemetry = SelfTelemetry(meter_provider)
        self._options = MappingOptions(
            capture_content=self._config.capture_content,
            max_text_chars=self._config.max_text_chars,
            log_spans=self._config.log_spans,
            redact_patterns=self._config.redact_patterns,
        )
        self._stats = ExportStats()
        self._warned_at: dict[str, float] = {}
        self._init_state()
        _LIVE.add(self)

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._cond = threading.Condition()
        self._buffer = TraceBuffer(self._config.trace_timeout)
        self._router = Router(self._config, self._options, self._buffer, self._cond, self._count)
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
            return max(0, self._config.max_queue_size - self._held())

    # --- SpanExporter API --------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """File ``spans`` for writing. Never raises, never waits on MLflow."""
        try:
            self._after_fork_check()
            if self._shutdown or self._closing:
                return SpanExportResult.FAILURE
            now = time.monotonic()
            with self._cond:
                self._count("spans_received", len(spans))
                room = self._config.max_queue_size - self._held()
                room_bytes = self._config.max_queue_bytes - self._held_bytes()
                accepted = 0
                for span in spans[: max(0, room)]:
                    size = span_bytes(span)
                    if size > room_bytes:
                        break
                    room_bytes -= size
                    self._buffer.add(span, now, size)
                    accepted += 1
                dropped = len(spans) - accepted
                self._count("spans_dropped_queue_full", dropped)
                self._ensure_worker()
                self._cond.notify_all()
            if dropped:
                self._warn("queue_full", "otel-mlflow dropped %d span(s): the spans waiting for MLflow reached "
                           "OTEL_MLFLOW_MAX_QUEUE_SIZE (%d) or OTEL_MLFLOW_MAX_QUEUE_BYTES (%d); "
                           "is the tracking store reachable?",
                           dropped, self._config.max_queue_size, self._config.max_queue_bytes)  # fmt: skip
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS
        except Exception:  # noqa: BLE001 - export must never raise into the SDK
            _logger.exception("otel-mlflow could not accept %d span(s)", len(spans))
            return SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every finished trace (and every window's new requests) now; False if not done in time.

        Traces still waiting for their root span stay buffered (their root is not finished yet).
        """
        self._after_fork_check()
        deadline = time.monotonic() + timeout_millis / 1000
        with self._cond:
            if self._thread is None:
                return not self._router.jobs
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
        """Write everything still buffered (incomplete traces and open windows too), then stop.
        Safe to call twice."""
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
                    closing_deadline = time.monotonic() + min(self._config.retry_timeout, _MAX_CLOSING_SECONDS)
                seq, urgent, closing = self._flush_seq, self._urgent, self._closing
                self._urgent = False
                groups = self._buffer.pop_ready(time.monotonic(), flush_all=closing)
            try:
                self._router.route(groups, time.monotonic())
                self._router.sync_windows(time.monotonic(), closing)
                self._run_jobs(urgent, closing_deadline)
            except Exception:  # noqa: BLE001 - the writer thread must survive our own bugs
                _logger.exception("otel-mlflow writer cycle failed")
            with self._cond:
                if not self._router.jobs:
                    self._done_seq = max(self._done_seq, seq)
                    self._cond.notify_all()
                finished = self._router.idle() and not len(self._buffer)
                if closing and (finished or time.monotonic() >= (closing_deadline or 0)):
                    self._drop_remaining()
                    return

    def _wait_for_work(self) -> None:
        if self._urgent:
            return
        next_job = min((j.next_try for j in self._router.jobs), default=None)
        until_job = None if next_job is None else max(0.0, next_job - time.monotonic())
        if self._closing:
            if until_job is not None and not len(self._buffer):
                self._cond.wait(until_job)
            return
        timeout = self._config.flush_interval
        self._cond.wait(timeout if until_job is None else min(timeout, until_job))

    def _run_jobs(self, urgent: bool, closing_deadline: float | None) -> None:
        now = time.monotonic()
        with self._cond:
            due = [j for j in self._router.jobs if urgent or j.next_try <= now]
        for job in due:
            outcome = attempt(job, self._writer, closing_deadline)
            if outcome is Outcome.RETRY:
                with self._cond:
                    self._stats.writes_retried += 1
                self._warn("retry", "otel-mlflow write failed, will retry (attempt %d): %s", job.attempts, job.error)
                continue
            if outcome is Outcome.DROPPED:
                self._warn("give_up", "otel-mlflow dropped %d span(s): MLflow refused the write or kept failing "
                           "until OTEL_MLFLOW_RETRY_TIMEOUT: %s", job.span_count, job.error)  # fmt: skip
            with self._cond:
                self._router.jobs.remove(job)

    # --- helpers -------------------------------------------------------------------------------
    def _held(self) -> int:
        return len(self._buffer) + self._router.held_spans()

    def _held_bytes(self) -> int:
        return self._buffer.bytes + self._router.held_bytes()

    def _count(self, name: str, n: int) -> None:
        setattr(self._stats, name, getattr(self._stats, name) + n)
        if n and name.startswith("spans_"):
            self._telemetry.add(name, n)

    def _drop_remaining(self) -> None:
        lost = len(self._buffer) + self._router.drop_all()
        self._buffer.pop_ready(time.monotonic(), flush_all=True)
        if lost:
            self._count("spans_dropped_write_failed", lost)
            _logger.warning("otel-mlflow shut down with %d span(s) not written", lost)

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


__all__ = ["ExportStats", "MLflowSpanExporter", "live_exporters"]
