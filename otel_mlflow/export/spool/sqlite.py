"""sqlite plumbing of the spool: one transaction per call, and telling a failing disk from a damaged file.

Usage::

    with transaction(db):          # BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the body raises
        db.execute(...)
    if is_disk_error(exc): ...     # full, read-only, I/O: the disk under the file, not its content
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

_TRANSIENT_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOSPC, errno.ENOMEM}
_TRANSIENT_CODES = {5, 6, 7, 13, 14}
"""sqlite's BUSY, LOCKED, NOMEM, FULL and CANTOPEN (what running out of file descriptors looks like to it)."""
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


def is_transient(exc: BaseException) -> bool:
    """True for a failure that goes away by itself: no file descriptor or memory free for a moment, a full disk
    that may be cleaned, a lock held by another process."""
    if isinstance(exc, OSError):
        return exc.errno in _TRANSIENT_ERRNOS
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return isinstance(exc, sqlite3.OperationalError) and any(
            word in str(exc) for word in ("unable to open", "locked", "busy", "full", "out of memory")
        )
    return int(code) & 0xFF in _TRANSIENT_CODES


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
