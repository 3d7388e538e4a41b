"""The durable spool file: every accepted span stays on disk until MLflow has it. Plain sqlite I/O.

One sqlite file (WAL mode, one transaction per call) per live process; :mod:`.folder` chooses the folder, owns
the file lock and takes over files left by dead processes; :mod:`.guarded` is the engine's only way here. Usage::

    spool = SpoolFile(path)
    batch = spool.append(blob, [(position, trace_hex), ...])            # one export() call, OTLP protobuf
    spool.journal_run(trace_hex, None, RunJournal.CREATING)              # before create_run
    spool.journal_run(trace_hex, run_id, RunJournal.CREATED)             # after it
    spool.retire([(batch, position), ...], run=(trace_hex, run_id))      # written: spans gone, run DONE

Tables: ``batches`` (one encoded request per export call), ``spans`` (its spans not yet written; ``held`` marks
those a window record keeps for its MLflow trace, never replayed as spans of their own), ``runs`` (the write
journal of per-trace runs), ``windows`` and ``records`` (serving windows and the requests their aggregates need,
kept until the window's closing write), ``merged`` (files taken over). ``PRAGMA user_version`` is the schema's
version and ``meta`` what the file holds (:mod:`.meta`).
"""

from __future__ import annotations

import enum
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from otel_mlflow.export.spool.meta import SCHEMA, SpoolIdentity, upgrade, write_identity
from otel_mlflow.export.spool.sqlite import transaction


class RunJournal(str, enum.Enum):
    """Where the creation of a run (a trace's or a window's) stands, as the spool journals it."""

    NONE = ""
    """Not created and not being created (a window whose first write has not started)."""
    CREATING = "creating"
    """``create_run`` is under way: after a crash the run may exist (in doubt: looked up by its write key)."""
    CREATED = "created"
    """The run exists (its id journaled beside): a replay resumes into it."""
    LINKING = "linking"
    """The run's part is written; the spans it holds wait for the trace lane (MLflow traces linked to the run)."""
    DONE = "done"
    """A trace's spans are in its run: later spans of the trace join it (trace runs only)."""


REMEMBERED_RUNS = 10_000
"""Written traces remembered, so a late span joins its trace's run even after a restart."""


SpanRef = tuple[int, int]
"""(batch id, position in the batch): one span in the spool."""
WindowRecord = tuple[str, dict[str, Any], int, dict[str, Any], Sequence[SpanRef]]
"""(window id, window description, index in the window, request record, the request's span refs: retired as the
record is kept; a record whose dict lists ``span_refs`` holds those spans instead, until its window's run has them)."""


class SpoolFile:
    """One spool file. Thread-safe: every call takes the file's lock and is one transaction."""

    def __init__(self, path: Path, identity: SpoolIdentity | None = None) -> None:
        """Open (or make, owner-only) the file at ``path``; a new file records ``identity`` (what it holds)."""
        self.path = path
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # prompts live here: owner only
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a process crash
        self._db.executescript(SCHEMA)
        upgrade(self._db, "main")
        if identity is not None:
            write_identity(self._db, identity)
        self._lock = threading.Lock()
        self._left: dict[int, list[int]] = {}  # batch -> [spans not yet written, blob bytes]
        self.bytes = 0
        """Bytes of encoded spans the file holds (what ``OTEL_MLFLOW_SPOOL_MAX_BYTES`` bounds)."""
        self._count_batches()

    def _count_batches(self) -> None:
        self._left.clear()
        self.bytes = 0
        for batch, size, left in self._db.execute(
            "SELECT b.id, b.bytes, (SELECT count(*) FROM spans s WHERE s.batch = b.id) FROM batches b"
        ):
            self._left[batch] = [left, size]
            self.bytes += size

    @property
    def span_count(self) -> int:
        return sum(left for left, _ in self._left.values())

    # --- spans ------------------------------------------------------------------------------
    def append(self, blob: bytes, rows: Sequence[tuple[int, str]]) -> int:
        """Keep one encoded batch and its spans ``(position, trace hex)``; returns the batch id."""
        with self._lock, self._tx():
            batch = self._db.execute("INSERT INTO batches (data, bytes) VALUES (?, ?)", (blob, len(blob))).lastrowid
            if batch is None:  # sqlite always gives an INSERT's row id
                raise sqlite3.DatabaseError("the spool's batch got no id")
            self._db.executemany(
                "INSERT INTO spans (batch, pos, trace) VALUES (?, ?, ?)", [(batch, pos, trace) for pos, trace in rows]
            )
            self._left[batch] = [len(rows), len(blob)]
            self.bytes += len(blob)
            return batch

    def batch_ids(self) -> list[int]:
        with self._lock:
            return sorted(self._left)

    def load(self, batch: int, held: bool = False) -> tuple[bytes, set[int]]:
        """A batch's encoded spans and the positions not yet written: free ones (replayed as spans), or with
        ``held`` those that window records hold."""
        with self._lock:
            row = self._db.execute("SELECT data FROM batches WHERE id = ?", (batch,)).fetchone()
            query = "SELECT pos FROM spans WHERE batch = ? AND held = ?"
            positions = {p for (p,) in self._db.execute(query, (batch, int(held)))}
        return (bytes(row[0]) if row else b""), positions

    def retire(self, refs: Iterable[SpanRef], run: tuple[str, str] | None = None) -> None:
        """These spans are in MLflow: forget them (and, with ``run=(trace, run_id)``, journal it done)."""
        refs = list(refs)
        with self._lock, self._tx():
            if run is not None:
                self._set_run(*run, RunJournal.DONE)
            self._retire(refs)

    def _retire(self, refs: list[SpanRef]) -> None:
        for batch, pos in refs:
            if self._db.execute("DELETE FROM spans WHERE batch = ? AND pos = ?", (batch, pos)).rowcount != 1:
                continue  # retired before (a record re-kept after its window's run had it): counted once
            entry = self._left.get(batch)
            if entry is None:
                continue
            entry[0] -= 1
            if entry[0] <= 0:
                self._db.execute("DELETE FROM batches WHERE id = ?", (batch,))
                self.bytes -= entry[1]
                del self._left[batch]

    # --- the run journal --------------------------------------------------------------------
    def journal_run(self, trace: str, run_id: str | None, state: RunJournal) -> None:
        with self._lock, self._tx():
            self._set_run(trace, run_id, state)

    def _set_run(self, trace: str, run_id: str | None, state: RunJournal) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO runs (trace, run_id, state, updated) VALUES (?, ?, ?, ?)",
            (trace, run_id, state.value, time.time()),
        )

    def run_of(self, trace: str) -> tuple[str | None, RunJournal] | None:
        """(run id, state) journaled for ``trace``, or None."""
        with self._lock:
            row = self._db.execute("SELECT run_id, state FROM runs WHERE trace = ?", (trace,)).fetchone()
        return None if row is None else (row[0], RunJournal(row[1]))

    def prune_runs(self, keep: int = REMEMBERED_RUNS) -> None:
        with self._lock, self._tx():
            self._db.execute(
                "DELETE FROM runs WHERE state = ? AND trace NOT IN (SELECT trace FROM runs WHERE state = ? "
                "ORDER BY updated DESC LIMIT ?)",
                (RunJournal.DONE.value, RunJournal.DONE.value, keep),
            )

    # --- windows ------------------------------------------------------------------------------
    def add_records(self, records: Sequence[WindowRecord]) -> None:
        """Requests join their windows (one transaction for all): records kept, their spans retired."""
        with self._lock, self._tx():
            for window, window_data, index, record, refs in records:
                self._db.execute(
                    "INSERT OR IGNORE INTO windows (id, data) VALUES (?, ?)", (window, json.dumps(window_data))
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO records (window, idx, data) VALUES (?, ?, ?)",
                    (window, index, json.dumps(record)),
                )
                self._db.executemany(
                    "UPDATE spans SET held = 1 WHERE batch = ? AND pos = ?",
                    [(b, p) for b, p in record.get("span_refs") or ()],
                )
                self._retire(list(refs))

    def window_progress(
        self, window: str, run_id: str | None, state: RunJournal, synced: int | None = None, points: Any = None
    ) -> None:
        with self._lock, self._tx():
            self._db.execute("UPDATE windows SET run_id = ?, state = ? WHERE id = ?", (run_id, state.value, window))
            if synced is not None:
                update = "UPDATE windows SET synced = ?, data = json_set(data, '$.points', json(?)) WHERE id = ?"
                self._db.execute(update, (synced, json.dumps(points), window))

    def release_traces(self, window: str, indexes: Sequence[int]) -> None:
        """These records' traces are stored (or given up): their spans retired; a LINKING window goes with its last."""
        with self._lock, self._tx():
            for index in indexes:
                found = self._db.execute("SELECT data FROM records WHERE window = ? AND idx = ?", (window, index))
                record = json.loads((found.fetchone() or ["{}"])[0])
                refs = record.pop("span_refs", None)
                if refs:
                    self._retire([(int(b), int(p)) for b, p in refs])
                    self._db.execute(
                        "UPDATE records SET data = ? WHERE window = ? AND idx = ?", (json.dumps(record), window, index)
                    )
            state = self._db.execute("SELECT state FROM windows WHERE id = ?", (window,)).fetchone()
            if state is not None and state[0] == RunJournal.LINKING.value and not self._holding(window):
                self._forget_window(window)

    def drop_window(self, window: str) -> None:
        """The window's closing write is done: forget it and its records, but for the records whose spans still
        wait for the trace lane (the window is then ``LINKING`` until :meth:`release_traces` frees the last)."""
        with self._lock, self._tx():
            if not (holding := self._holding(window)):
                return self._forget_window(window)
            rows = self._db.execute("SELECT idx FROM records WHERE window = ?", (window,)).fetchall()
            self._db.executemany(
                "DELETE FROM records WHERE window = ? AND idx = ?", [(window, i) for (i,) in rows if i not in holding]
            )
            self._db.execute("UPDATE windows SET state = ? WHERE id = ?", (RunJournal.LINKING.value, window))
        return None

    def _holding(self, window: str) -> set[int]:
        """The window's records that still hold spans for their MLflow traces."""
        rows = self._db.execute("SELECT idx, data FROM records WHERE window = ?", (window,))
        return {int(index) for index, data in rows if json.loads(data).get("span_refs")}

    def _forget_window(self, window: str) -> None:
        self._db.execute("DELETE FROM records WHERE window = ?", (window,))
        self._db.execute("DELETE FROM windows WHERE id = ?", (window,))

    def windows(self) -> list[dict[str, Any]]:
        """Every window kept: its ``records`` (in order) and their ``indexes``, ``run_id``, ``state``, ``synced``."""
        with self._lock:
            rows = self._db.execute("SELECT id, data, run_id, state, synced FROM windows").fetchall()
            out = []
            for window, data, run_id, state, synced in rows:
                rows_of = self._db.execute("SELECT idx, data FROM records WHERE window = ? ORDER BY idx", (window,))
                indexed = [(int(i), json.loads(r)) for i, r in rows_of]
                kept = {"run_id": run_id, "state": RunJournal(state or ""), "synced": synced}
                kept |= {"records": [r for _, r in indexed], "indexes": [i for i, _ in indexed]}
                out.append({"id": window, **json.loads(data), **kept})
        return out

    def merged_sources(self) -> set[str]:
        """The names of the files merged into this one (directly or through a file merged)."""
        with self._lock:
            return {str(row[0]) for row in self._db.execute("SELECT source FROM merged")}

    def window_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM windows").fetchone()[0])

    # --- taking over another file ---------------------------------------------------------------
    def merge(self, other: Path, source: str) -> tuple[list[int], int]:
        """Move everything of a dead process's spool file into this one, once; returns the ids its batches
        got here (none when it was merged before) and how many serving windows came with them."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM merged WHERE source = ?", (source,)).fetchone():
                return [], 0
            self._db.execute("ATTACH DATABASE ? AS other", (str(other),))
            try:
                self._db.executescript(SCHEMA.replace("EXISTS ", "EXISTS other."))
                upgrade(self._db, "other")
                with self._tx():
                    offset = int(self._db.execute("SELECT coalesce(max(id), 0) FROM main.batches").fetchone()[0])
                    new = [int(b) + offset for (b,) in self._db.execute("SELECT id FROM other.batches ORDER BY id")]
                    windows = int(self._db.execute("SELECT count(*) FROM other.windows").fetchone()[0])
                    self._db.execute(
                        "INSERT INTO main.batches SELECT id + ?, data, bytes FROM other.batches", (offset,)
                    )
                    self._db.execute(
                        "INSERT INTO main.spans SELECT batch + ?, pos, trace, held FROM other.spans", (offset,)
                    )
                    self._db.execute("INSERT OR IGNORE INTO main.runs SELECT * FROM other.runs")
                    self._db.execute("INSERT OR IGNORE INTO main.windows SELECT * FROM other.windows")
                    self._db.execute("INSERT OR IGNORE INTO main.records SELECT * FROM other.records")
                    self._db.execute("INSERT OR IGNORE INTO main.merged SELECT * FROM other.merged")
                    self._db.execute("INSERT INTO main.merged (source) VALUES (?)", (source,))
            finally:
                self._db.execute("DETACH DATABASE other")
            self._count_batches()
        return new, windows

    def forget_merged(self, gone: Callable[[str], bool]) -> None:
        """Forget the merged files that are ``gone`` (a file removed cannot be merged twice)."""
        with self._lock:
            stale = [(n,) for (n,) in self._db.execute("SELECT source FROM merged").fetchall() if gone(str(n))]
            if stale:
                with self._tx():
                    self._db.executemany("DELETE FROM merged WHERE source = ?", stale)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _tx(self) -> AbstractContextManager[None]:
        return transaction(self._db)
