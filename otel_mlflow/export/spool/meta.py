"""What a spool file says of itself: its schema version, and the store and experiment its spans are for.

A spool replays into the store it was written for: a process takes over only the files of its own store and
experiment (a folder shared by two apps, ``OTEL_MLFLOW_SPOOL_DIR`` set alike, must not write one app's spans into
the other's experiment or store). Usage::

    identity = SpoolIdentity.of(tracking_uri, experiment)    # what this process writes to
    write_identity(db, identity)                              # a new file records it (table ``meta``)
    read_identity(path)                                       # another file's, read-only; None: an older file
    read_merged(path)                                         # the files another file has taken over already

``PRAGMA user_version`` is the schema's version: 1 marked held spans by ``trace = 'held'``; 2 has the ``held``
column and ``meta`` (:func:`upgrade` brings a version-1 file up to date, opened or taken over).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from otel_mlflow.export.spool.sqlite import roll_back

SCHEMA_VERSION = 2
_V1_HELD = "held"
"""How version 1 marked a held span: its ``trace`` overwritten with this word."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, data BLOB NOT NULL, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spans (batch INTEGER NOT NULL, pos INTEGER NOT NULL, trace TEXT NOT NULL,
                                  held INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (batch, pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (trace TEXT PRIMARY KEY, run_id TEXT, state TEXT NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS windows (id TEXT PRIMARY KEY, data TEXT NOT NULL, run_id TEXT, state TEXT,
                                    synced INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS records (window TEXT NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL,
                                    PRIMARY KEY (window, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merged (source TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
"""The tables of a spool file (:mod:`.file`), created when missing."""


@dataclass(frozen=True)
class SpoolIdentity:
    """The tracking store and experiment a spool file's spans are for."""

    key: str
    """A hash of both: what take-over compares (the store's URI may hold credentials: never stored as such)."""
    store: str
    """The store, for messages (credentials masked by the caller)."""
    experiment: str

    @classmethod
    def of(cls, store_uri: str, experiment: str, shown: str | None = None) -> SpoolIdentity:
        key = hashlib.sha256(f"{store_uri}\0{experiment}".encode()).hexdigest()[:16]
        return cls(key, shown if shown is not None else store_uri, experiment)


def write_identity(db: sqlite3.Connection, identity: SpoolIdentity) -> None:
    """Record ``identity`` in a file that has none yet (a file keeps the identity it was made with)."""
    rows = [("store_key", identity.key), ("store", identity.store), ("experiment", identity.experiment)]
    db.executemany("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", rows)


def read_identity(path: Path) -> SpoolIdentity | None:
    """The identity another spool file records; None for a file made before files recorded one. Raises
    sqlite3.Error when the file cannot be read."""
    values = {str(row[0]): str(row[1]) for row in _read(path, "SELECT key, value FROM meta", "meta")}
    if "store_key" not in values:
        return None
    return SpoolIdentity(values["store_key"], values.get("store", "?"), values.get("experiment", "?"))


def read_merged(path: Path) -> set[str]:
    """The names of the files another spool file has taken over (its ``merged`` table)."""
    return {str(row[0]) for row in _read(path, "SELECT source FROM merged", "merged")}


def _read(path: Path, query: str, table: str) -> list[tuple[str, ...]]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
            return []
        return list(db.execute(query))
    finally:
        db.close()


def upgrade(db: sqlite3.Connection, schema: str) -> None:
    """Bring the file attached as ``schema`` to :data:`SCHEMA_VERSION` (a version-1 file gets its ``held`` column)."""
    version = int(db.execute(f"PRAGMA {schema}.user_version").fetchone()[0])
    if version >= SCHEMA_VERSION:
        return
    columns = {row[1] for row in db.execute(f"PRAGMA {schema}.table_info(spans)")}
    db.execute("BEGIN IMMEDIATE")
    try:
        if "held" not in columns:
            db.execute(f"ALTER TABLE {schema}.spans ADD COLUMN held INTEGER NOT NULL DEFAULT 0")
            db.execute(f"UPDATE {schema}.spans SET held = 1 WHERE trace = ?", (_V1_HELD,))
        db.execute(f"PRAGMA {schema}.user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        roll_back(db)
        raise
