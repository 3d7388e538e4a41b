"""This process's spool, until its disk fails: then memory only, with one warning naming the fix.

The engine's only way to the spool (appending, the run and window journals, replay, restore, take-over)::

    disk = GuardedSpool(owned, stats, on_failure=forget_spilled)
    batch, positions = disk.append_batch(spans, max_bytes, warnings)   # REFUSED past max_bytes, None: memory only
    spans, lost = disk.read_batch(batch)                               # a spilled batch back, or None
    disk.call(lambda spool: spool.run_of(trace))                       # any other call: None without a spool

A full disk, ``ulimit -f`` or a vanished folder must not stop the app. A failure that goes away by itself (no file
descriptor free for a moment, ``EMFILE``; a full disk, ``ENOSPC``; a lock) is retried a few times within a second,
with one warning a minute; any other ``sqlite3.Error`` or ``OSError``, or one that lasts, drops the spool for the
rest of the process (one warning); what is already on disk stays there for the next start on that folder.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import ENV_SPOOL_DIR, ENV_SPOOL_MAX_BYTES
from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.export.spool.codec import EncodeError, decode_batch, encode_batch
from otel_mlflow.export.spool.file import RunJournal, SpanRef, SpoolFile
from otel_mlflow.export.spool.folder import OwnedSpool
from otel_mlflow.export.spool.sqlite import is_transient
from otel_mlflow.export.spool.takeover import TakenOver
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(LOGGER_NAME)
T = TypeVar("T")
TRANSIENT_PAUSES = (0.05, 0.2, 0.5)
"""Pauses between tries of a spool call that failed for a passing reason (about 0.75 s in all)."""
REFUSED = -1
"""The batch id :meth:`GuardedSpool.append_batch` gives a batch the spool has no room for: refused whole."""
ReadBack = tuple[list[tuple[ReadableSpan, SpanRef]], list[SpanRef]]
"""A batch read back: its spans with their refs, and the refs of spans that cannot be rebuilt."""


class GuardedSpool:
    def __init__(self, owned: OwnedSpool | None, on_failure: Callable[[], int]) -> None:
        self.owned = owned
        self._switch = threading.Lock()
        self._intake = threading.Lock()
        self._transient = RateLimitedLog(_logger)
        self._on_failure = on_failure
        """Called once when the spool is dropped (no lock of ours held); returns the batches only on disk."""

    @property
    def spool(self) -> SpoolFile | None:
        owned = self.owned
        return owned.spool if owned is not None else None

    def append_batch(
        self, spans: Sequence[ReadableSpan], max_bytes: int, warnings: RateLimitedLog
    ) -> tuple[int | None, list[int]]:
        """Spool ``spans`` in one transaction: (batch id, each span's position in it); (None, []) when they
        stay in memory only (no spool, or spans the encoder refuses); (REFUSED, []) past ``max_bytes``."""
        spool = self.spool
        if spool is None or not spans:
            return None, []
        try:
            blob, positions = encode_batch(spans)
        except EncodeError as exc:
            warnings.warn(
                "encode",
                "otel-mlflow keeps %d span(s) in memory only: they cannot be encoded for the spool (%s)",
                len(spans),
                exc,
            )
            return None, []
        if spool.bytes + len(blob) > max_bytes:
            warnings.warn(
                "spool_full",
                "otel-mlflow refused %d span(s): the spool reached %s (%d bytes); is the tracking store reachable?",
                len(spans),
                ENV_SPOOL_MAX_BYTES,
                max_bytes,
            )
            return REFUSED, []
        traces = [f"{s.context.trace_id:032x}" for s in spans if s.context is not None]  # encode_batch checked each
        rows = sorted(zip(positions, traces, strict=True))
        with self._intake:  # not into a file being handed off
            return self.call(lambda s: s.append(blob, rows)), positions

    def room(self, max_bytes: int) -> int | None:
        """Bytes the spool may still take under ``max_bytes``; None without a spool."""
        spool = self.spool
        return None if spool is None else max_bytes - spool.bytes

    def read_batch(self, batch: int, held: bool = False) -> ReadBack | None:
        """The batch's spans not yet written (with ``held``: those window records hold), each with its ref, and
        the refs of spans that cannot be rebuilt; None without a spool."""
        loaded = self.call(lambda s: s.load(batch, held))
        if loaded is None:
            return None
        blob, present = loaded
        try:
            decoded = decode_batch(blob) if blob else []
        except Exception:  # a damaged entry must not stop the others
            _logger.exception("otel-mlflow could not read spool entry %d; its spans are dropped", batch)
            decoded = []
        spans, lost = [], []
        for pos in sorted(present):
            span = decoded[pos] if pos < len(decoded) else None
            if span is None:
                lost.append((batch, pos))
            else:
                spans.append((span, (batch, pos)))
        return spans, lost

    def take_over_dead(self) -> TakenOver:
        """Merge the files of dead processes into ours (none without a spool)."""
        taken = self.call(lambda s: self.owned.take_over_dead() if self.owned is not None else None)
        return taken if taken is not None else TakenOver(0, [], 0)

    def prune(self) -> None:
        self.call(lambda s: self.owned.prune() if self.owned is not None else None)

    def swap(self, new: OwnedSpool | None) -> OwnedSpool | None:
        """Make ``new`` the file spans are appended to (a hand-off, :mod:`otel_mlflow.export.writer_process`; None: no
        file any more); returns the one before (None when the spool was dropped meanwhile: ``new`` is then closed).
        No append is under way."""
        with self._intake, self._switch:
            old, self.owned = self.owned, (new if self.owned is not None else None)
        if old is None and new is not None:
            new.close()
        return old

    def windows(self) -> list[dict[str, Any]]:
        """Every window the spool keeps, with its records (empty without a spool)."""
        return self.call(lambda s: s.windows()) or []

    def call(self, action: Callable[[SpoolFile], T]) -> T | None:
        """``action(spool)`` (one transaction: retried whole); None without a spool, or when the disk fails (the
        spool is dropped then)."""
        spool = self.spool
        if spool is None:
            return None
        for pause in (*TRANSIENT_PAUSES, None):
            try:
                return action(spool)
            except (sqlite3.Error, OSError) as exc:
                if pause is None or not is_transient(exc):
                    self._fail(exc)
                    return None
                self._transient.warn("busy", "otel-mlflow's spool is briefly unavailable (%s): retried", exc)
                time.sleep(pause)
        return None

    def _fail(self, exc: BaseException) -> None:
        with self._switch:
            owned, self.owned = self.owned, None
        if owned is None:
            return
        on_disk = self._on_failure()
        _logger.warning(
            "otel-mlflow cannot use its spool in %s (%s): spans are kept in memory only from now on. "
            "Set %s to a writable folder with free space (or OTEL_MLFLOW_SPOOL=off). %d batch(es) "
            "already on disk are written by the next start on that folder.",
            owned.folder,
            exc,
            ENV_SPOOL_DIR,
            on_disk,
        )

    # --- the journal around create_run, and settling a write -------------------------------------
    def run_journal(self, trace: str) -> Callable[[str | None], None]:
        """For ``WriteState.on_create``: CREATING just before a trace's run is created, CREATED with its id after."""
        return lambda run_id: self.call(
            lambda s: s.journal_run(trace, run_id, RunJournal.CREATED if run_id else RunJournal.CREATING)
        )

    def window_journal(self, window: str) -> Callable[[str | None], None]:
        """The same for a serving window's run."""
        return lambda run_id: self.call(
            lambda s: s.window_progress(window, run_id, RunJournal.CREATED if run_id else RunJournal.CREATING)
        )

    def settle_window(self, window: str, run_id: str | None, upto: int, closed: bool, points: Any = None) -> None:
        """A window's write landed up to record ``upto`` (and its per-second ``points`` so far): its closing write
        drops it from the spool."""
        state = RunJournal.CREATED if run_id else RunJournal.NONE
        self.call(lambda s: s.drop_window(window) if closed else s.window_progress(window, run_id, state, upto, points))
