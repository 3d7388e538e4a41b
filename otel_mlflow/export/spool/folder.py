"""Where spool files live, who owns each, and taking over the files of dead processes.

Each live process owns one file, ``spool-<time>-<pid>-<random>.db`` (names sort in the order the files were made,
and take-overs merge in that order: a request's spans before the feedback on it), and holds an exclusive ``flock`` on
``spool-<id>.lock`` for its whole life; the kernel drops the lock when the process dies, however it
dies (SIGKILL and the OOM killer included). Any process on the same folder (gunicorn workers, receiver
replicas, the next start, ``otel-mlflow drain``) may then take the lock and merge the dead file into
its own. Usage::

    folder = spool_folder(config)                 # OTEL_MLFLOW_SPOOL_DIR, or the default below
    owned = OwnedSpool.create(folder, spool_identity(config))   # this process's file, saying what it holds
    taken = owned.take_over_dead()                # merge files whose owner is gone: files, new batch ids, windows

The engine reaches these through :class:`~otel_mlflow.export.spool.guarded.GuardedSpool` only.

Default folder, one per tracking store and experiment (a spool replays into the store it came from):
beside a sqlite store's file (``<db folder>/.otel-mlflow-spool/<key>``), else
``$XDG_CACHE_HOME/otel-mlflow/spool/<key>`` (``~/.cache`` when unset).
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from pathlib import Path

from otel_mlflow.config import DEFAULT_TRACKING_URI, Config
from otel_mlflow.export.spool.file import SpoolFile
from otel_mlflow.export.spool.meta import SpoolIdentity
from otel_mlflow.export.spool.takeover import DB, LOCK, PREFIX, TakenOver, remove_file, take_over
from otel_mlflow.scrub import default_scrubber

SPOOL_FOLDER_NAME = ".otel-mlflow-spool"


def spool_identity(config: Config) -> SpoolIdentity:
    """The store and experiment ``config`` writes to, as spool files record it."""
    uri = config.tracking_uri or DEFAULT_TRACKING_URI
    return SpoolIdentity.of(uri, config.experiment_name, shown=default_scrubber().text(uri))


def spool_folder(config: Config) -> Path:
    """The folder of the spool for ``config``'s tracking store and experiment."""
    uri = config.tracking_uri or DEFAULT_TRACKING_URI
    if config.spool_dir:
        return Path(config.spool_dir).expanduser()
    if uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///") :].split("?")[0])
        return database.resolve().parent / SPOOL_FOLDER_NAME / spool_identity(config).key
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "otel-mlflow" / "spool" / spool_identity(config).key


TRACE_LANE_SPANS = (
    "SELECT count(*) FROM spans WHERE held = 1 OR trace IN (SELECT trace FROM runs WHERE state = 'linking')"
)
"""The spans whose runs are written and whose MLflow traces are not yet stored."""


def spooled_spans(folder: str | Path, query: str = "SELECT count(*) FROM spans") -> int:
    """Spans waiting in every spool file of ``folder`` (files of live processes included); ``query`` counts
    another subset (:data:`TRACE_LANE_SPANS`)."""
    import sqlite3

    total = 0
    for db in Path(folder).glob(f"{PREFIX}*{DB}"):
        try:
            conn = sqlite3.connect(f"file:{db}?mode=rw", uri=True)  # never creates a file that just went
        except sqlite3.Error:
            continue
        try:
            total += int(conn.execute(query).fetchone()[0])
        except sqlite3.Error:
            pass  # a file being created or removed right now
        finally:
            conn.close()
    return total


class OwnedSpool:
    """This process's spool file and the lock that says it is alive."""

    def __init__(self, folder: Path, name: str, lock_fd: int, spool: SpoolFile, identity: SpoolIdentity | None) -> None:
        self.folder, self.name, self._lock_fd, self.spool, self.identity = folder, name, lock_fd, spool, identity
        self._told: set[str] = set()  # files of other stores already warned about

    @classmethod
    def create(cls, folder: Path, identity: SpoolIdentity | None = None) -> OwnedSpool:
        """A new file in ``folder`` (made, owner-only, when missing) recording ``identity``. Raises OSError or
        sqlite3.Error."""
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{PREFIX}{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"  # sorts in the order made
        fd = os.open(folder / f"{name}{LOCK}", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            spool = SpoolFile(folder / f"{name}{DB}", identity)
        except BaseException:
            os.close(fd)
            raise
        return cls(folder, name, fd, spool, identity)

    def take_over_dead(self) -> TakenOver:
        """Merge the files of this folder whose owner is dead into ours (see :mod:`.takeover`). A disk error of our
        own file is raised."""
        return take_over(self.spool, self.folder, self.name, self.identity, self._told)

    def prune(self) -> None:
        """Forget what no longer matters: written traces beyond the last 10,000, merged files that are gone."""
        self.spool.prune_runs()
        self.spool.forget_merged(lambda name: not (self.folder / f"{name}{DB}").exists())

    def close(self, remove_if_empty: bool = True) -> None:
        """Close the file; an empty one is removed. The lock goes last, so no one merges a half-closed file."""
        empty = self.spool.span_count == 0 and self.spool.window_count() == 0
        self.spool.close()
        if remove_if_empty and empty:
            remove_file(self.folder / f"{self.name}{DB}", self.name, self.folder)
        os.close(self._lock_fd)

    def abandon_in_child(self) -> None:
        """After fork: the parent owns this file and lock. Close nothing the parent still uses."""
        os.close(self._lock_fd)  # our copy only: the parent's lock stays
