"""This process's spool, until its disk fails: then memory only, with one warning naming the fix.

Usage (the ledger's only way to the spool)::

    disk = GuardedSpool(owned, lock, stats, on_failure=forget_spilled)
    batch = disk.call(lambda spool: spool.append(blob, rows))   # None: no spool (now)

A full disk, ``ulimit -f`` or a vanished folder must not stop the app: the first ``sqlite3.Error`` or
``OSError`` drops the spool for the rest of the process; what is already on disk stays there for the
next start on that folder.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import ENV_SPOOL_DIR, ENV_SPOOL_MAX_BYTES
from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.export.codec import EncodeError, encode_batch
from otel_mlflow.export.spool import CREATED, CREATING, SpoolFile
from otel_mlflow.export.spool_dir import OwnedSpool
from otel_mlflow.export.stats import ExportStats
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(LOGGER_NAME)
T = TypeVar("T")
REFUSED = -1
"""The batch id :meth:`GuardedSpool.append_batch` gives a batch the spool has no room for: refused whole."""


class GuardedSpool:
    def __init__(self, owned: OwnedSpool | None, lock: threading.Condition, stats: ExportStats,
                 on_failure: Callable[[], int]) -> None:  # fmt: skip
        self.owned = owned
        self._lock = lock
        self._stats = stats
        self._on_failure = on_failure
        """Called with the lock held when the spool is dropped; returns the batches only on disk, forgotten."""

    @property
    def spool(self) -> SpoolFile | None:
        owned = self.owned
        return owned.spool if owned is not None else None

    def append_batch(self, spans: Sequence[ReadableSpan], max_bytes: int, warnings: RateLimitedLog) -> tuple[int | None, list[int]]:
        """Spool ``spans`` in one transaction: (batch id, each span's position in it); (None, []) when they
        stay in memory only (no spool, or spans the encoder refuses); (REFUSED, []) past ``max_bytes``."""
        spool = self.spool
        if spool is None or not spans:
            return None, []
        try:
            blob, positions = encode_batch(spans)
        except EncodeError as exc:
            warnings.warn("encode", "otel-mlflow keeps %d span(s) in memory only: they cannot be encoded for the "
                          "spool (%s)", len(spans), exc)  # fmt: skip
            return None, []
        if spool.bytes + len(blob) > max_bytes:
            warnings.warn("spool_full", "otel-mlflow refused %d span(s): the spool reached %s (%d bytes); is the "
                          "tracking store reachable?", len(spans), ENV_SPOOL_MAX_BYTES, max_bytes)  # fmt: skip
            return REFUSED, []
        traces = [f"{s.context.trace_id:032x}" for s in spans]  # encode_batch checked every context
        rows = sorted(zip(positions, traces))
        return self.call(lambda s: s.append(blob, rows)), positions

    def call(self, action: Callable[[SpoolFile], T]) -> T | None:
        spool = self.spool
        if spool is None:
            return None
        try:
            return action(spool)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc)
            return None

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            owned, self.owned = self.owned, None
            if owned is None:
                return
            self._stats.add("spool_errors", 1)
            on_disk = self._on_failure()
        _logger.warning("otel-mlflow cannot use its spool in %s (%s): spans are kept in memory only from now on. "
                        "Set %s to a writable folder with free space (or OTEL_MLFLOW_SPOOL=off). %d batch(es) "
                        "already on disk are written by the next start on that folder.",
                        owned.folder, exc, ENV_SPOOL_DIR, on_disk)  # fmt: skip

    # --- the journal around create_run, and settling a write -------------------------------------
    def run_journal(self, trace: str) -> Callable[[str | None], None]:
        """For ``WriteState.on_create``: ``creating`` just before a trace's run is created, its id just after."""
        return lambda run_id: self.call(lambda s: s.journal_run(trace, run_id, CREATED if run_id else CREATING))

    def window_journal(self, window: str) -> Callable[[str | None], None]:
        """The same for a serving window's run."""
        return lambda run_id: self.call(lambda s: s.window_progress(window, run_id, CREATED if run_id else CREATING))

    def settle_window(self, window: str, run_id: str | None, upto: int, closed: bool) -> None:
        """A window's write landed up to record ``upto``: its closing write drops it from the spool."""
        self.call(lambda s: s.drop_window(window) if closed
                  else s.window_progress(window, run_id, CREATED if run_id else "", upto))  # fmt: skip
