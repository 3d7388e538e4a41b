"""Taking over the spool files of dead processes: each once, only those of this store and experiment, and a
damaged one set aside with what can be saved of it.

A file's owner holds an ``flock`` on its ``.lock`` for life; a file whose lock can be taken is dead. Its spans are
merged into the live process's own file (one transaction, recorded in ``merged``), then the file is removed.
Usage (:class:`~otel_mlflow.export.spool.folder.OwnedSpool` does this)::

    taken = take_over(spool, folder, own_name, identity, told)   # files, their batches' ids here, windows

- A dead file that a file already merged lists as merged (a crash between a merge and the removal of what was
  merged) is removed without merging again: its spans are in the other file, once.
- A file of another store or experiment (a folder shared by two apps) is left in place for a process of its own,
  with one warning naming both; ``otel-mlflow drain`` with that store's settings writes it.
- A file that cannot be read (truncated, not a database, a folder of that name) is renamed ``*.damaged`` with one
  warning, after its readable batches are copied into the live file (spans held by window records are not: their
  records are part of what was damaged).
- A disk error of the live file is raised: the guard switches the spool off with its one warning.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import NamedTuple

from otel_mlflow.export.spool.file import SpoolFile
from otel_mlflow.export.spool.meta import SpoolIdentity, read_identity, read_merged
from otel_mlflow.export.spool.sqlite import is_disk_error
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
PREFIX, DB, LOCK, DAMAGED = "spool-", ".db", ".lock", ".damaged"
MAX_PROBED_IDS = 200_000
"""Batch ids looked up one by one in a damaged file whose table cannot be scanned (a batch row is >= 100 bytes)."""


class TakenOver(NamedTuple):
    files: int
    batches: list[int]
    """The ids the batches of the files got in ours."""
    windows: int
    """Serving windows that came with them (to restore)."""


def take_over(spool: SpoolFile, folder: Path, own: str, identity: SpoolIdentity | None,
              told: set[str]) -> TakenOver:  # fmt: skip
    """Merge every dead file of ``folder`` (but ``own``) into ``spool``. ``told`` holds the names already warned
    about (a file left in place is seen again every few seconds)."""
    dead: list[tuple[Path, str, int]] = []
    for db in sorted(folder.glob(f"{PREFIX}*{DB}")):  # names start with the time made: oldest merged first
        name = db.name[: -len(DB)]
        fd = None if name == own else lock_if_dead(folder / f"{name}{LOCK}")
        if fd is not None:
            dead.append((db, name, fd))
    try:
        contained = spool.merged_sources()
        for db, _, _ in dead:
            contained |= _merged_of(db)
        taken, batches, windows = 0, [], 0
        for db, name, _ in dead:
            if not db.exists():
                continue  # another process took it over while we waited for its lock
            if name in contained:
                remove_file(db, name, folder)  # merged before a crash left it here: never twice
                continue
            new = _take_one(spool, db, name, identity, told)
            if new is not None:
                taken += 1
                batches += new[0]
                windows += new[1]
        return TakenOver(taken, batches, windows)
    finally:
        for _, _, fd in dead:
            os.close(fd)


def _merged_of(db: Path) -> set[str]:
    try:
        return read_merged(db)
    except (sqlite3.Error, OSError):
        return set()  # a damaged file: handled when its turn comes


def _take_one(
    spool: SpoolFile, db: Path, name: str, identity: SpoolIdentity | None, told: set[str]
) -> tuple[list[int], int] | None:
    try:
        theirs = read_identity(db)
        if identity is not None and theirs is not None and theirs.key != identity.key:
            if name not in told:
                told.add(name)
                _logger.warning(
                    "otel-mlflow leaves the spool file %s in place: its spans are for store %s, experiment %r; this "
                    "process writes to %s, experiment %r. A process of that store writes it, or: "
                    "MLFLOW_TRACKING_URI=<that store> MLFLOW_EXPERIMENT_NAME=%s otel-mlflow drain --spool-dir %s",
                    db, theirs.store, theirs.experiment, identity.store, identity.experiment, theirs.experiment,
                    db.parent,
                )  # fmt: skip
            return None
        new = spool.merge(db, name)
    except Exception as exc:
        if is_disk_error(exc) and db.exists() and not db.is_dir():
            raise  # our disk: the guard's one warning and memory from now on
        return _set_aside(spool, db, name, exc), 0
    remove_file(db, name, db.parent)
    return new


def _set_aside(spool: SpoolFile, db: Path, name: str, exc: BaseException) -> list[int]:
    """Copy the readable batches of a damaged file into ``spool``, then rename it ``*.damaged``."""
    saved: list[int] = []
    for blob, rows in salvage(db):
        saved.append(spool.append(blob, rows))
    aside = Path(f"{db}{DAMAGED}")
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db}{suffix}").exists():
            os.replace(f"{db}{suffix}", f"{aside}{suffix}")
    remove_file(db, name, db.parent)
    _logger.warning(
        "otel-mlflow could not read the spool file of a dead process (%s: %s); %d batch(es) of it were saved and "
        "will be written, the rest is kept as %s for inspection (delete it when done)",
        type(exc).__name__, exc, len(saved), aside,
    )  # fmt: skip
    return saved


def salvage(db: Path) -> list[tuple[bytes, list[tuple[int, str]]]]:
    """Every batch of a damaged file that can still be read whole, with its spans not yet written (held ones
    aside); what cannot be read is skipped. Reads a copy whose header says the pages the file has (a truncated file
    claims more, and sqlite then refuses the whole of it)."""
    out: list[tuple[bytes, list[tuple[int, str]]]] = []
    copy = Path(f"{db}.salvage")
    try:
        if not _readable_copy(db, copy):
            return out
        conn = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return out
    try:
        for batch in _batch_ids(conn, copy):
            try:
                blob = conn.execute("SELECT data FROM batches WHERE id = ?", (batch,)).fetchone()[0]
                rows = conn.execute("SELECT pos, trace, held FROM spans WHERE batch = ?", (batch,)).fetchall()
            except sqlite3.Error:
                continue
            free = [(int(pos), str(trace)) for pos, trace, held in rows if not held and trace != "held"]
            if free:
                out.append((bytes(blob), free))
    finally:
        conn.close()
        copy.unlink(missing_ok=True)
    return out


def _readable_copy(db: Path, copy: Path) -> bool:
    """Copy a sqlite file's whole pages to ``copy`` with its header's page count set to what is there; False when
    ``db`` is not a sqlite file at all."""
    if not db.is_file():
        return False
    data = bytearray(db.read_bytes())
    if len(data) < 100 or not data.startswith(b"SQLite format 3\0"):
        return False
    page = int.from_bytes(data[16:18], "big")
    page = 65536 if page == 1 else page
    pages = len(data) // page if page else 0
    if not pages:
        return False
    data[28:32] = pages.to_bytes(4, "big")  # the in-header database size
    copy.write_bytes(bytes(data[: pages * page]))
    return True


def _batch_ids(conn: sqlite3.Connection, db: Path) -> list[int]:
    """The batch ids of a damaged file: scanned, or, when the scan fails (a damaged page of the table's tree), each
    id looked up on its own, up to what the file's size allows."""
    ids: list[int] = []
    try:
        ids.extend(int(row[0]) for row in conn.execute("SELECT id FROM batches ORDER BY id"))
        return ids
    except sqlite3.Error:
        pass
    found = []
    for batch in range(1, min(MAX_PROBED_IDS, db.stat().st_size // 100 + 2)):
        try:
            if conn.execute("SELECT 1 FROM batches WHERE id = ?", (batch,)).fetchone():
                found.append(batch)
        except sqlite3.Error:
            continue
    return found


def lock_if_dead(lock_path: Path) -> int | None:
    """The file descriptor of ``lock_path`` locked by us, when its owner is dead; None when it is alive."""
    try:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None  # its owner is alive
    return fd


def remove_file(db: Path, name: str, folder: Path) -> None:
    """Remove a spool file (and its WAL, shared memory and lock files)."""
    for suffix in ("-wal", "-shm", ""):
        try:
            os.unlink(f"{db}{suffix}")
        except (FileNotFoundError, IsADirectoryError):
            pass
    try:
        os.unlink(folder / f"{name}{LOCK}")
    except FileNotFoundError:
        pass
