"""Writer threads over one ledger: start, flush, and an exit that waits while MLflow makes progress.

Usage (the exporter does this)::

    engine = Engine(ledger, config)
    engine.start()                  # run lane: OTEL_MLFLOW_WRITERS threads (4 against a server, 1 for sqlite);
                                    # trace lane: half as many, at least one
    engine.flush(timeout=30)        # True once everything ready is in MLflow
    left = engine.close(budget=600) # spans not written (still in the spool when it is on)

Each thread writes the jobs of its lane and shard (all writes of one run's lane go through one thread, in
order): the run lane's threads never wait for MLflow's trace store (:mod:`.pending.lanes`), and they alone plan
(turn what came into jobs), so that the trace lane's time goes to MLflow's trace store. The
loop is supervised: an unexpected error, in a write or in the wait, is logged with its cause and the
loop goes on. ``close`` drains the ledger (everything is written now), shows a progress line after ~2 s,
and stops when everything is written, when MLflow has been failing for ``OTEL_MLFLOW_RETRY_TIMEOUT``, or
when ``budget`` runs out. The engine never takes the ledger's lock: it asks the ledger to wait.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from otel_mlflow.config import Config
from otel_mlflow.export.mlflow.attempt import attempt
from otel_mlflow.export.mlflow.writer import MLflowWriter
from otel_mlflow.export.pending.jobs import Lane, Outcome
from otel_mlflow.export.pending.ledger import DRAINING_POLL_SECONDS, Ledger
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
_ERROR_PAUSE_SECONDS = 0.5
_JOIN_SECONDS = 2.0
SHOW_PROGRESS_AFTER_SECONDS = 2.0
PLAIN_PROGRESS_EVERY_SECONDS = 5.0
RUNS_BEHIND_WARNING = (
    "otel-mlflow: runs reach MLflow %.0f s late (more than %.0f s): MLflow takes writes slower than they come, or "
    "fails; give it more capacity (a server with more workers on PostgreSQL, more receiver replicas: README "
    '"Scaling out")'
)


class Engine:
    def __init__(self, ledger: Ledger, config: Config, trace_process: bool = False) -> None:
        self._ledger = ledger
        self._config = config
        self._trace_process = trace_process
        """The trace lane stores through a helper process (:mod:`.mlflow.trace_process`)."""
        self._shards = {Lane.RUNS: config.writer_count, Lane.TRACES: max(1, config.writer_count // 2)}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closing_deadline: float | None = None
        """Without a spool, at exit: a write failing past this is given up (nothing durable keeps it)."""
        self._failing_since: float | None = None
        """Since when every write attempt failed (None: the last one landed, or none failed yet)."""

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def start(self) -> None:
        with self._lock:
            if self._threads or self._ledger.stopped:
                return
            self._threads = [
                threading.Thread(
                    target=self._run, args=(lane, shard), name=f"otel-mlflow-{lane.value}-{shard}", daemon=True
                )
                for lane, shards in self._shards.items()
                for shard in range(shards)
            ]
        for thread in self._threads:
            thread.start()

    # --- the loop ---------------------------------------------------------------------------
    def _run(self, lane: Lane, shard: int) -> None:
        writer = MLflowWriter(self._config, self._ledger.options.scrubber, self._trace_process and lane is Lane.TRACES)
        last_plan = 0.0
        while not self._ledger.stopped:
            try:
                last_plan = self._cycle(lane, shard, writer, last_plan)
            except Exception:  # the writer must not die: log the cause and go on
                _logger.exception("otel-mlflow %s writer %d hit an unexpected error; it goes on", lane.value, shard)
                time.sleep(_ERROR_PAUSE_SECONDS)
        writer.close()

    def _cycle(self, lane: Lane, shard: int, writer: MLflowWriter, last_plan: float) -> float:
        ledger = self._ledger
        now = time.monotonic()
        if lane is Lane.RUNS and ledger.planning_due(now, last_plan):  # the trace lane only stores traces
            ledger.plan(now)
            last_plan = now
            self._warn_if_behind(now)
        job = ledger.take(lane, shard, self._shards[lane], time.monotonic())
        if job is None:
            ledger.wait_for_work(lane, shard, self._shards[lane], now)
            return last_plan
        job.state.on_progress = self._progressed  # a long write that keeps landing parts is no stall at exit
        outcome = attempt(job, writer, self._closing_deadline)
        with self._lock:
            if outcome is Outcome.RETRY:
                self._failing_since = self._failing_since or time.monotonic()
            elif outcome is Outcome.WRITTEN:
                self._failing_since = None
        ledger.finish(job, outcome)
        return last_plan

    def _warn_if_behind(self, now: float) -> None:
        """One warning a minute while the run lane is later than two windows and a flush interval."""
        lag, bound = self._ledger.lag(now), 2 * self._config.window_seconds + self._config.flush_interval
        if lag.runs_seconds > bound:
            self._ledger.warnings.warn("behind", RUNS_BEHIND_WARNING, lag.runs_seconds, bound)

    def _progressed(self) -> None:
        """Part of a write landed (the writer tells while the write goes on): MLflow is not failing."""
        with self._lock:
            self._failing_since = None

    # --- flush and close ----------------------------------------------------------------------
    def flush(self, timeout: float) -> bool:
        """Wait until everything ready is written; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        if self._ledger.stopped:  # shut down: nothing more will be written
            return self._ledger.wait_settled(time.monotonic(), lambda: True)
        with self._ledger.flushing() as since:
            self.start()
            return self._ledger.wait_settled(deadline, lambda: self.running, since)

    def close(self, budget: float) -> int:
        """Write what is left within ``budget`` seconds, then stop the threads; returns spans not written."""
        ledger = self._ledger
        start = time.monotonic()
        deadline = start + budget
        if ledger.disk.spool is None:  # nothing durable: give up on a write past the retry timeout
            self._closing_deadline = start + min(self._config.retry_timeout, budget)
        progress = ProgressLine()
        with ledger.flushing():  # every waiting retry is due now: MLflow may be back since the last backoff
            planned_before = ledger.begin_drain()
            self.start()
            while True:
                drained, left = ledger.wait_drained(planned_before, DRAINING_POLL_SECONDS)
                if drained:
                    break
                with self._lock:
                    failing_since = None if self._failing_since is None else max(self._failing_since, start)
                now = time.monotonic()
                failing = failing_since is not None and now - failing_since >= self._config.retry_timeout
                if now >= deadline or failing or not self.running:
                    break
                progress.show(left, now - start)
        ledger.stop()
        for thread in self._threads:
            thread.join(_JOIN_SECONDS)
        progress.finish(left)
        return left


class ProgressLine:
    """A progress line on stderr while exit waits for MLflow (only when that takes more than ~2 s)::

        otel-mlflow: writing to MLflow before exit: 1,200 left, 210/s, ~6 s to go

    On a terminal the line updates in place; elsewhere (a log file, CI) one line every 5 seconds."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = bool(getattr(self._stream, "isatty", lambda: False)())
        self._first_left: int | None = None
        self._shown_at = 0.0
        self._shown = False

    def show(self, left: int, elapsed: float) -> None:
        if self._first_left is None:
            self._first_left = left
        if elapsed < SHOW_PROGRESS_AFTER_SECONDS:
            return
        now = time.monotonic()
        if not self._tty and self._shown and now - self._shown_at < PLAIN_PROGRESS_EVERY_SECONDS:
            return
        self._shown_at, self._shown = now, True
        rate = max(0, self._first_left - left) / elapsed
        eta = f"~{left / rate:,.0f} s to go" if rate > 0 else "waiting for MLflow"
        self._write(f"otel-mlflow: writing to MLflow before exit: {left:,} left, {rate:,.0f}/s, {eta}")

    def finish(self, left: int) -> None:
        if not self._shown:
            return
        self._write(f"otel-mlflow: {'done' if left == 0 else f'{left:,} left'}", end="\n")

    def _write(self, text: str, end: str = "") -> None:
        try:
            if self._tty:
                self._stream.write(f"\r\033[K{text}{end}")
            else:
                self._stream.write(f"{text}\n")
            self._stream.flush()
        except (OSError, ValueError):  # a closed stderr must not stop the exit
            pass
