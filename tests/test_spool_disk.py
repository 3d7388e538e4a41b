"""A disk that fails while the spool replays: one warning, memory from then on, nothing lost, no traceback loop.

Real processes and a real file-size limit (``ulimit -f``): the app takes over a dead process's spool file that its
own spool cannot hold, so sqlite's writes fail with EFBIG (a full disk looks the same to the spool).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from otel_mlflow.export.spool.file import SpoolFile
from tests.helpers import Store

APP = str(Path(__file__).with_name("disk_limit_app.py"))
pytestmark = pytest.mark.subprocess
DEAD_FILE_BYTES = 24 << 20


def dead_spool_file(folder: Path) -> Path:
    """A spool file left by a dead process (its lock file is not held), bigger than the limit below."""
    folder.mkdir(parents=True, mode=0o700)
    path = folder / "spool-999999-deadbeef0000.db"
    spool = SpoolFile(path)
    for batch in range(DEAD_FILE_BYTES // (256 << 10)):
        spool.append(os.urandom(256 << 10), [(0, f"{batch:032x}")])
    spool.close()
    (folder / "spool-999999-deadbeef0000.lock").touch()
    return path


def test_a_disk_error_during_take_over_gives_one_warning_and_the_memory_fall_back(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    dead = dead_spool_file(folder)
    store.client().search_experiments()  # the store's file exists: its size sets the limit
    limit = (store.root / "mlflow.db").stat().st_size + (8 << 20)
    assert limit < DEAD_FILE_BYTES
    proc = subprocess.run(
        [sys.executable, APP, store.uri, str(folder), str(limit), "20"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=store.root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "spool_errors 1 written 20" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    assert proc.stderr.count("cannot use its spool") == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(store.runs()) == 20
    assert dead.exists()  # left for the next start on that folder, whole
    assert len(SpoolFile(dead).batch_ids()) == DEAD_FILE_BYTES // (256 << 10)
