"""The app's side of ``OTEL_MLFLOW_WRITER=process``: hand spool files off, keep a writer process, flush, exit.

Usage (the exporter does this when the setting is ``process`` and the spool is on)::

    handoff = HandOff(ledger, config)     # ledger.handing_off: batches on disk are not held in memory
    handoff.start()                       # every 0.5 s: hand the file off, start the writer when none runs
    handoff.flush(timeout=30)             # True once the writer wrote everything handed off so far
    left = handoff.close(budget=600)      # hand the last file off, wait for the writer (spans still spooled)

The writer is started lazily, when a file waits and no writer holds the folder's lock (several app workers start
at most one: the second exits at once), and again when it dies (at most once a second; one warning a minute when
ours dies). At exit an app waits for the writer: while other apps on the folder live, until it has written what was
handed off; when the app is the last one, until the writer has drained (windows closed) and exited.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from otel_mlflow.config import Config
from otel_mlflow.export import LOGGER_NAME
from otel_mlflow.export.pending.lanes import Lag
from otel_mlflow.export.pending.ledger import Ledger
from otel_mlflow.export.spool.folder import OwnedSpool, spooled_spans
from otel_mlflow.export.writer_process.child import config_to_json
from otel_mlflow.export.writer_process.files import (
    files_waiting,
    live_owners,
    read_status,
    request_flush,
    status_lag,
    writer_alive,
)
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(LOGGER_NAME)
HAND_OFF_EVERY_SECONDS, RESPAWN_PAUSE_SECONDS, POLL_SECONDS = 0.5, 1.0, 0.05
AUTO_INSTRUMENTATION = os.path.join("opentelemetry", "instrumentation", "auto_instrumentation")
WRITER_DIED = (
    "otel-mlflow's writer process for %s ended with exit code %s; another is started (spans stay spooled meanwhile)"
)


class HandOff:
    def __init__(self, ledger: Ledger, config: Config) -> None:
        owned = ledger.disk.owned
        assert owned is not None, "hand-offs need a spool"
        self._ledger, self._config, self.folder, self._identity = ledger, config, owned.folder, owned.identity
        self._stop, self._lock, self._spawning = threading.Event(), threading.Lock(), threading.Lock()
        self.deaths = 0
        """Writers of ours that ended with an error."""
        self._thread: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self._spawned_at = -RESPAWN_PAUSE_SECONDS
        self._warnings = RateLimitedLog(_logger)
        ledger.handing_off = True

    def start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="otel-mlflow-handoff", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(HAND_OFF_EVERY_SECONDS):
            try:
                self.hand_off()
                self.keep_writer()
            except Exception:  # never stop handing off: log the cause and go on
                _logger.exception("otel-mlflow could not hand its spool file off; it tries again")

    def hand_off(self) -> bool:
        """Start a new spool file and let go of the current one (when it holds spans): the writer takes it over."""
        with self._lock:
            owned = self._ledger.disk.owned
            if owned is None or owned.spool.span_count == 0:
                return False
            old = self._ledger.disk.swap(OwnedSpool.create(self.folder, self._identity))
            if old is not None:
                old.close()
            return True

    def keep_writer(self) -> None:
        """Start a writer when a file waits and none runs (at most once a second)."""
        with self._spawning:
            child = self._child
            if child is not None and child.poll() is not None:  # ours ended: reaped here
                self._child = None
                if child.returncode != 0:
                    self.deaths += 1
                    self._warnings.warn("writer_died", WRITER_DIED, self.folder, child.returncode)
            if time.monotonic() - self._spawned_at < RESPAWN_PAUSE_SECONDS or writer_alive(self.folder):
                return
            if files_waiting(self.folder, self._own()):
                self._spawn()

    def _spawn(self) -> None:
        self._spawned_at = time.monotonic()
        child = subprocess.Popen(
            [sys.executable, "-m", "otel_mlflow.export.writer_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            env=writer_env(),
            start_new_session=True,  # a Ctrl-C of the app's terminal does not cut its drain short
            close_fds=True,
        )
        assert child.stdin is not None
        with child.stdin:
            child.stdin.write(config_to_json(self._config, self.folder).encode())
        self._child = child

    def _own(self) -> str | None:
        owned = self._ledger.disk.owned
        return owned.name if owned is not None else None

    # --- flush, exit, lag --------------------------------------------------------------------------
    def flush(self, timeout: float) -> bool:
        """Hand off now and wait until the writer has written everything handed off; False past ``timeout``."""
        deadline = time.monotonic() + timeout
        self.hand_off()
        if not files_waiting(self.folder, self._own()):
            return True
        request = request_flush(self.folder)
        try:
            while request.exists():
                if time.monotonic() >= deadline:
                    return False
                self.keep_writer()
                time.sleep(POLL_SECONDS)
            return True
        finally:
            request.unlink(missing_ok=True)

    def close(self, budget: float) -> int:
        """Hand the last file off and wait (at most ``budget`` s) for the writer: returns the spans still spooled."""
        deadline = time.monotonic() + budget
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            last = self._ledger.disk.swap(None)
        if last is not None:
            last.close()  # an empty file is removed
        seen_writer, request, deaths = False, None, self.deaths
        try:
            while time.monotonic() < deadline:
                alive, status = writer_alive(self.folder), read_status(self.folder)
                writer_file = status.get("spool") if status else None
                if not alive and not files_waiting(self.folder, None):
                    break  # all written, and the writer gone
                if not alive and ((seen_writer and writer_file is None) or self.deaths > deaths + 1):
                    break  # it drained what MLflow took, or it fails to start: the rest stays spooled
                seen_writer = seen_writer or alive
                if alive and live_owners(self.folder, {str(writer_file)}):  # others go on: wait for ours only
                    request = request or request_flush(self.folder)
                    if not request.exists():
                        return 0
                self.keep_writer()
                time.sleep(POLL_SECONDS)
        finally:
            if request is not None:
                request.unlink(missing_ok=True)
        left = spooled_spans(self.folder)
        if left:
            _logger.warning(
                "otel-mlflow: %d span(s) not yet in MLflow are kept in the spool at %s; its writer process goes on "
                "writing them, else the next start on that folder does, or run: otel-mlflow drain --spool-dir %s",
                left,
                self.folder,
                self.folder,
            )
        return left

    def lag(self) -> Lag:
        """The writer's lag, as it last reported it."""
        return status_lag(read_status(self.folder))


def writer_env() -> dict[str, str]:
    """The app's environment without ``opentelemetry-instrument``'s start-up hook: the writer makes no spans."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and AUTO_INSTRUMENTATION not in p]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    return env
