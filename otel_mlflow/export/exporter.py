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

``export()`` appends the spans to a durable spool on disk (one sqlite transaction, on the
BatchSpanProcessor's thread) and returns; writer threads map each finished trace to one MLflow run
(``OTEL_MLFLOW_RUN_MODE=trace``) or to its serving window's run (``window``, ``auto``; see
:mod:`otel_mlflow.export.pending.routing`), write it, and only then retire it from the spool. Transient failures
are retried with jittered backoff; what MLflow has not taken stays in the spool. At exit the exporter
keeps writing while MLflow makes progress (``OTEL_MLFLOW_EXIT_TIMEOUT``, 20 s after SIGTERM); whatever is
left, even after SIGKILL, is written by the next process on the same spool folder or by
``otel-mlflow drain``, exactly once. Spans carrying ``otel_mlflow.run_id`` go to that run. Past
``OTEL_MLFLOW_SPOOL_MAX_BYTES`` (or, with ``OTEL_MLFLOW_SPOOL=off``, past the memory bound) a batch is
refused whole and counted (:attr:`MLflowSpanExporter.stats`). Settings: see :mod:`otel_mlflow.config`.

Starting an exporter: the settings are read (:meth:`Config.from_env`), MLflow's process-wide HTTP bounds are set
when unset (:func:`otel_mlflow.export.mlflow.server.set_process_defaults`, the one step that touches MLflow's
variables), the spool is opened, and the writer threads start when a dead process left spans in its folder.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_mlflow.config import ENV_SPOOL_DIR, SIGTERM_EXIT_SECONDS, Config
from otel_mlflow.config.eval_rule import parse_rule
from otel_mlflow.config.objectives import parse_objectives
from otel_mlflow.export.engine import Engine
from otel_mlflow.export.mlflow.prices import price_source
from otel_mlflow.export.mlflow.server import set_process_defaults
from otel_mlflow.export.pending.lanes import Lag
from otel_mlflow.export.pending.ledger import Ledger
from otel_mlflow.export.pending.memory import MemoryBound
from otel_mlflow.export.spool.folder import OwnedSpool, spool_folder, spool_identity
from otel_mlflow.export.stats import ExportStats, SelfTelemetry
from otel_mlflow.export.writer_process.handoff import HandOff
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.scrub import Scrubber, get_logger
from otel_mlflow.sigterm import stopping_on_signal

_logger = get_logger(__name__)
_LIVE: weakref.WeakSet[MLflowSpanExporter] = weakref.WeakSet()
_ABANDONED: list[Any] = []
"""A forked child keeps its parent's spool objects here, unclosed: closing them would touch the parent's file."""
CHILD_EXIT_FLUSH_SECONDS = 5.0


class MLflowSpanExporter(SpanExporter):
    """Writes finished spans to MLflow as runs, params, metrics, tags and artifacts.

    Args:
        config: a resolved :class:`~otel_mlflow.config.Config`; when omitted, built from
            ``settings`` (keyword arguments named like the Config fields) and the environment.
        meter_provider: where the exporter's own counters go (default: the global MeterProvider).
        trace_process: store MLflow traces of a database store through a helper process (the writer process of
            ``OTEL_MLFLOW_WRITER=process`` does: :mod:`~otel_mlflow.export.mlflow.trace_process`).
    """

    def __init__(
        self, config: Config | None = None, *, meter_provider: Any = None, trace_process: bool = False, **settings: Any
    ) -> None:
        self._config = config if config is not None else Config.from_env(**settings)
        self._trace_process = trace_process
        self._telemetry = SelfTelemetry(meter_provider)
        self._options = MappingOptions(
            capture_content=self._config.capture_content,
            max_text_chars=self._config.max_text_chars,
            log_spans=self._config.log_spans,
            scrubber=Scrubber(self._config.scrub),
            prices=price_source(self._config.prices),
            replica=self._config.replica_id,
            replica_in_name=self._config.replica is not None,
            trace_policy=self._config.trace_policy,
            slo=parse_objectives(",".join(self._config.slo)),
            eval_rule=parse_rule(self._config.eval_rule) if self._config.eval_dataset else None,
        )
        self._shutdown = False
        set_process_defaults(self._config.tracking_uri)
        self._start()
        _LIVE.add(self)
        method = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (m := method()) is not None and m())
        _flush_at_multiprocessing_child_exit(self)

    def _start(self) -> None:
        owned = self._open_spool()
        self._ledger = Ledger(self._config, self._options, self._telemetry, owned)
        self._engine = Engine(self._ledger, self._config, self._trace_process)
        self._handoff = HandOff(self._ledger, self._config) if owned and self._config.writer == "process" else None
        self._telemetry.observe(self.lag)
        if self._handoff is not None:
            self._handoff.start()  # a writer process writes what a dead process left in this folder, if anything
        elif owned is not None:
            self._engine.start()  # writes what a dead process left in this folder, if anything

    def _open_spool(self) -> OwnedSpool | None:
        if not self._config.spool:
            return None
        folder = spool_folder(self._config)
        try:
            return OwnedSpool.create(folder, spool_identity(self._config))
        except (OSError, sqlite3.Error) as exc:
            _logger.warning(
                "otel-mlflow cannot open its spool in %s (%s): spans are kept in memory only, and are "
                "lost if the process dies. Set %s to a writable folder.",
                folder,
                exc,
                ENV_SPOOL_DIR,
            )
            return None

    @property
    def config(self) -> Config:
        return self._config

    @property
    def stats(self) -> ExportStats:
        """A snapshot of the exporter's counters."""
        return self._ledger.stats()

    @property
    def spool_name(self) -> str | None:
        """The name of this process's spool file in :attr:`spool_folder` (None: memory only)."""
        owned = self._ledger.disk.owned
        return owned.name if owned is not None else None

    def look_for_files(self) -> None:
        """Take over the spool files of processes gone (and files handed off) now, not at the next 5 s look."""
        self._ledger.look_for_files()

    @property
    def spool_folder(self) -> str | None:
        """Where this exporter's spool lives (None: memory only)."""
        owned = self._ledger.disk.owned
        return str(owned.folder) if owned is not None else None

    def lag(self) -> Lag:
        """How far behind MLflow is now: the run lane's lag in seconds, the traces waiting to be stored (and how long
        that takes at the trace store's pace), the traces sampled out so far."""
        if self._handoff is not None:
            return self._handoff.lag()
        return self._ledger.lag(time.monotonic())

    def memory_held(self) -> tuple[int, int]:
        """(spans, estimated bytes) this exporter holds in memory (bounded by OTEL_MLFLOW_MAX_QUEUE_*)."""
        return self._ledger.memory_held()

    def room(self) -> int:
        """Bytes more this exporter accepts before refusing (the spool's disk bound, or memory without one)."""
        spool_room = self._ledger.disk.room(self._config.spool_max_bytes)
        return MemoryBound(self._config).room_bytes(spool_room, self._ledger.memory_held())

    # --- SpanExporter API --------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Spool ``spans`` whole (SUCCESS) or refuse them whole (FAILURE). Never raises, never waits on MLflow."""
        return self._accept(spans, durable=False)

    def export_durably(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """:meth:`export`, but with the spool on (the default) SUCCESS only once the spans are on disk: while the spool
        cannot take them (its disk failing), FAILURE, never memory only. For whoever acknowledges spans to a sender
        that would retry them (the receiver)."""
        return self._accept(spans, durable=self._config.spool)

    def _accept(self, spans: Sequence[ReadableSpan], durable: bool) -> SpanExportResult:
        try:
            if self._shutdown:
                return SpanExportResult.FAILURE
            accepted = self._ledger.accept(spans, time.monotonic(), durable=durable)
            if self._handoff is None or self._ledger.disk.spool is None:  # (a spool that failed: memory, here)
                self._engine.start()
            return SpanExportResult.SUCCESS if accepted else SpanExportResult.FAILURE
        except Exception:  # export must never raise into the SDK or the receiver
            _logger.exception("otel-mlflow could not accept %d span(s)", len(spans))
            return SpanExportResult.FAILURE

    @property
    def spooling(self) -> bool:
        """The spool takes spans now (False: it is off, by setting or after its disk failed)."""
        return self._ledger.disk.spool is not None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write every finished trace (and every window's new requests) now; False if not done in time.

        Covers what this process accepted, and what processes on its spool folder that are gone left there (forked
        children that exited: their files are taken over first). Not covered: traces still waiting for their root
        span (it is not finished yet), feedback waiting for a trace that is not in MLflow yet, and the spans of
        children still running (they write their own, and leave the rest when they exit).
        """
        if self._handoff is None:
            return self._engine.flush(timeout_millis / 1000)
        deadline = time.monotonic() + timeout_millis / 1000
        handed = self._handoff.flush(timeout_millis / 1000)
        return (self._engine.flush(max(0.0, deadline - time.monotonic())) if self._engine.running else True) and handed

    def shutdown(self, *, timeout_seconds: float | None = None) -> None:
        """Write what is left, for as long as MLflow makes progress, then stop. Safe to call twice.

        Waits at most ``timeout_seconds``, else ``OTEL_MLFLOW_EXIT_TIMEOUT`` (at most 20 s after SIGTERM).
        With the spool on, what is not written stays on disk for the next start or ``otel-mlflow drain``.
        (Not ``timeout_millis``: the SDK's BatchSpanProcessor would pass its own 30 s through that name, and
        a batch script's records are worth the configured wait.)
        """
        if self._shutdown:
            return
        self._shutdown = True
        _LIVE.discard(self)
        budget = self._config.exit_timeout if timeout_seconds is None else timeout_seconds
        if stopping_on_signal():
            budget = min(budget, SIGTERM_EXIT_SECONDS)
        deadline = time.monotonic() + budget
        left = self._handoff.close(budget) if self._handoff is not None else 0
        if self._handoff is None or self._engine.running:  # a writer process wrote ours: start no threads to exit
            left += self._engine.close(max(0.0, deadline - time.monotonic()))
        owned = self._ledger.disk.owned
        if owned is not None:
            owned.close()
            if left:
                _logger.warning(
                    "otel-mlflow: %d span(s) not yet in MLflow are kept in the spool at %s; the next "
                    "start on that folder writes them, or run: otel-mlflow drain --spool-dir %s",
                    left,
                    owned.folder,
                    owned.folder,
                )
        elif left:
            lost = self._ledger.drop_all()
            _logger.warning("otel-mlflow shut down with %d span(s) not written (OTEL_MLFLOW_SPOOL=off)", lost)
        _LIVE.discard(self)

    # --- fork ------------------------------------------------------------------------------------
    def _after_fork_in_child(self) -> None:
        """A forked child starts empty, with a spool file of its own (the parent writes its own spans); its
        spans are spooled before it exits, so the parent or the next start writes them if it does not."""
        if self._shutdown:
            return
        _ABANDONED.append(self._ledger)
        owned = self._ledger.disk.owned
        if owned is not None:
            owned.abandon_in_child()
        self._start()


def _flush_at_multiprocessing_child_exit(exporter: MLflowSpanExporter) -> None:
    """multiprocessing ends its children with os._exit, past atexit: hand the spans over before that.

    Its children clear the finalizers they inherit and then run the after-fork hooks registered here, so
    the child registers its exit flush there (a Finalize made in an ``os.register_at_fork`` hook is lost).
    """
    from multiprocessing import util

    util.register_after_fork(exporter, _register_child_exit_flush)


def _register_child_exit_flush(exporter: MLflowSpanExporter) -> None:
    from multiprocessing import util

    ref = weakref.ref(exporter)

    def flush() -> None:
        from opentelemetry import trace

        provider_flush = getattr(trace.get_tracer_provider(), "force_flush", None)
        if provider_flush is not None:
            provider_flush(int(CHILD_EXIT_FLUSH_SECONDS * 1000))  # the SDK's queue -> export() -> the spool
        live = ref()
        if live is not None:
            live.shutdown(timeout_seconds=CHILD_EXIT_FLUSH_SECONDS)  # write what it can; the rest stays spooled

    util.Finalize(None, flush, exitpriority=100)


def live_exporters() -> list[MLflowSpanExporter]:
    """Every MLflowSpanExporter of this process not shut down yet (whoever made it)."""
    return list(_LIVE)


__all__ = ["ExportStats", "MLflowSpanExporter", "live_exporters"]
