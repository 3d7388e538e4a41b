"""sqlite plumbing of the spool: one transaction per call, and telling a failing disk from a damaged file.

Usage::

    with transaction(db):          # BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the body raises
        db.execute(...)
    if is_disk_error(exc): ...     # full, read-only, I/O: the disk under the file, not its content
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

_DISK_ERRORS = {8, 10, 13}
"""sqlite's SQLITE_READONLY, SQLITE_IOERR and SQLITE_FULL: the file's disk, not its content."""


def is_disk_error(exc: BaseException) -> bool:
    """True for a failure of the disk under a spool file (full, read-only, I/O), False for a damaged file."""
    if isinstance(exc, OSError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:  # Python 3.10 has no error codes: read the message
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc) for word in ("disk", "full", "readonly", "read-only")
        )
    return int(code) & 0xFF in _DISK_ERRORS


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """``with transaction(db):`` one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` when the body raises)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        roll_back(db)
        raise
    db.execute("COMMIT")


def roll_back(db: sqlite3.Connection) -> None:
    """Undo the open transaction, if sqlite has not already (a disk error rolls it back): the error that got us
    here is the one worth raising, not "no transaction is active"."""
    if db.in_transaction:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the caller's error propagates; sqlite rolls back a failed transaction at the next BEGIN
