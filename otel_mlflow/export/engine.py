"""Writer threads over one ledger: start, flush, and an exit that waits while MLflow makes progress.

Usage (the exporter does this)::

    engine = Engine(ledger, config)
    engine.start()                  # OTEL_MLFLOW_WRITERS threads (4 against a server, 1 for sqlite)
    engine.flush(timeout=30)        # True once everything ready is in MLflow
    left = engine.close(budget=600) # spans not written (still in the spool when it is on)

Each thread writes the jobs of its shard (all writes of one run go through one thread, in order). The
loop is supervised: an unexpected error, in a write or in the wait, is logged with its cause and the
loop goes on. ``close`` keeps writing while writes succeed, shows a progress line after ~2 s, and stops
when everything is written, when MLflow has been failing for ``OTEL_MLFLOW_RETRY_TIMEOUT``, or when
``budget`` runs out.
"""

from __future__ import annotations

import threading
import time

from otel_mlflow.config import Config
from otel_mlflow.export.ledger import Ledger
from otel_mlflow.export.progress import ProgressLine
from otel_mlflow.export.jobs import Outcome, attempt
from otel_mlflow.export.writer import MLflowWriter
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
_ERROR_PAUSE_SECONDS = 0.5
_CLOSING_POLL_SECONDS = 0.2
_JOIN_SECONDS = 2.0


class Engine:
    def __init__(self, ledger: Ledger, config: Config) -> None:
        self._ledger = ledger
        self._config = config
        self._shards = config.writer_count
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._stop = False
        self._closing_deadline: float | None = None
        self._failing_since: float | None = None
        """Since when every write attempt failed (None: the last one landed, or none failed yet)."""

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        with self._ledger.cond:
            if self._threads or self._stop:
                return
            self._threads = [threading.Thread(target=self._run, args=(shard,), name=f"otel-mlflow-writer-{shard}",
                                              daemon=True) for shard in range(self._shards)]  # fmt: skip
        for thread in self._threads:
            thread.start()

    # --- the loop ---------------------------------------------------------------------------
    def _run(self, shard: int) -> None:
        writer = MLflowWriter(self._config, self._ledger.options.scrubber)
        last_plan = 0.0
        while not self._stop:
            try:
                last_plan = self._cycle(shard, writer, last_plan)
            except Exception:  # noqa: BLE001 - the writer must not die: log the cause and go on
                _logger.exception("otel-mlflow writer %d hit an unexpected error; it goes on", shard)
                time.sleep(_ERROR_PAUSE_SECONDS)

    def _cycle(self, shard: int, writer: MLflowWriter, last_plan: float) -> float:
        ledger = self._ledger
        now = time.monotonic()
        with ledger.cond:
            planning = self._closing or ledger.needs_planning() or now - last_plan >= self._config.flush_interval
        if planning:
            ledger.plan(now, self._closing)
            last_plan = now
        job = ledger.take(shard, self._shards, time.monotonic())
        if job is not None:
            job.state.on_progress = self._progressed  # a long write that keeps landing parts is no stall at exit
            outcome = attempt(job, writer, self._closing_deadline)
            with ledger.cond:
                if outcome is Outcome.RETRY:
                    self._failing_since = self._failing_since or time.monotonic()
                elif outcome is Outcome.WRITTEN:
                    self._failing_since = None
            ledger.finish(job, outcome)
            return last_plan
        with ledger.cond:
            if self._stop or ledger.needs_planning():
                return last_plan
            timeout = self._config.flush_interval
            for due in (ledger.next_due(), ledger.next_planning()):
                if due is not None:
                    timeout = min(timeout, max(0.0, due - now))
            if self._closing:
                timeout = min(timeout, _CLOSING_POLL_SECONDS)
            ledger.cond.wait(timeout)
        return last_plan

    def _progressed(self) -> None:
        """Part of a write landed (the writer tells while the write goes on): MLflow is not failing."""
        with self._ledger.cond:
            self._failing_since = None

    # --- flush and close ----------------------------------------------------------------------
    def flush(self, timeout: float) -> bool:
        """Wait until everything ready is written; False when ``timeout`` passes first."""
        ledger = self._ledger
        deadline = time.monotonic() + timeout
        ledger.flushing(True)
        try:
            with ledger.cond:
                if ledger.settled(time.monotonic()):
                    return True
            self.start()
            with ledger.cond:
                while not ledger.settled(time.monotonic()):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not self.running:
                        return False
                    ledger.cond.wait(min(remaining, 0.1))
            return True
        finally:
            ledger.flushing(False)

    def close(self, budget: float) -> int:
        """Write what is left within ``budget`` seconds, then stop the threads; returns spans not written."""
        ledger = self._ledger
        start = time.monotonic()
        deadline = start + budget
        ledger.flushing(True)  # every waiting retry is due now: MLflow may be back since the last backoff
        with ledger.cond:
            self._closing = True
            if ledger.spool is None:  # nothing durable: give up on a write past the retry timeout
                self._closing_deadline = start + min(self._config.retry_timeout, budget)
            planned_before = ledger.plans
            ledger.cond.notify_all()
        self.start()
        progress = ProgressLine()
        left = 0
        while True:
            with ledger.cond:
                left = ledger.left()
                if ledger.plans > planned_before and ledger.empty():
                    left = 0
                    break
                failing_since = None if self._failing_since is None else max(self._failing_since, start)
            now = time.monotonic()
            failing = failing_since is not None and now - failing_since >= self._config.retry_timeout
            if now >= deadline or failing or not self.running:
                break
            progress.show(left, now - start)
            with ledger.cond:
                ledger.cond.wait(_CLOSING_POLL_SECONDS)
        self._stop = True
        with ledger.cond:
            ledger.cond.notify_all()
        for thread in self._threads:
            thread.join(_JOIN_SECONDS)
        progress.finish(left)
        return left
