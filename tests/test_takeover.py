"""Taking over the spool files of dead processes: once, only one's own store's, and damaged ones set aside once
(issue 26, items 2, 3 and 5). The dead files are made as a dead process leaves them: a spool file whose lock
nobody holds, written by the real spool code."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest

from otel_mlflow import attributes as A
from otel_mlflow.config import Config
from otel_mlflow.export.spool.codec import encode_batch
from otel_mlflow.export.spool.file import SpoolFile
from otel_mlflow.export.spool.folder import spool_identity
from otel_mlflow.export.spool.meta import SpoolIdentity
from otel_mlflow.export.spool.takeover import LOCK
from tests.helpers import SpanRecorder, Store, make_store, spooled_span_count


def config(store: Store, folder: Path, experiment: str = "llmops-rag") -> Config:
    return Config.from_env(
        env={}, tracking_uri=store.uri, experiment_name=experiment, spool_dir=str(folder), run_mode="trace",
        link_traces=False, log_spans=False, flush_interval=0.05, artifact_location=str(store.artifacts),
    )  # fmt: skip


def dead_file(folder: Path, name: str, identity: SpoolIdentity | None, traces: int, recorder: SpanRecorder) -> Path:
    """A spool file of a dead process holding ``traces`` two-span traces (7 tokens each), one batch a trace."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    spool = SpoolFile(folder / f"{name}.db", identity)
    for i in range(traces):
        with recorder.tracer.start_as_current_span(f"job {i}"):
            with recorder.tracer.start_as_current_span("chat") as chat:
                chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
                chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 3)
                chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 4)
                chat.set_attribute("filler", "x" * 3000)  # batches span pages: a truncated file keeps some
        spans = recorder.take()
        blob, positions = encode_batch(spans)
        spool.append(blob, sorted((p, f"{s.context.trace_id:032x}") for p, s in zip(positions, spans, strict=True)))
    spool.close()
    (folder / f"{name}{LOCK}").touch()  # its owner is gone: nobody holds the lock
    return folder / f"{name}.db"


def write_all(cfg: Config) -> Any:
    from otel_mlflow import MLflowSpanExporter

    exporter = MLflowSpanExporter(config=cfg)
    exporter.shutdown()  # takes the dead files over and writes them
    return exporter.stats


def assert_traces_once(store: Store, traces: int, experiment: str = "llmops-rag") -> None:
    runs = store.runs(experiment)
    assert len(runs) == traces
    assert {r.data.metrics["span_count"] for r in runs} == {2.0}  # no span doubled
    assert {r.data.metrics["tokens.total"] for r in runs} == {7.0}


def test_a_file_merged_before_a_crash_is_not_merged_again(store: Store, tmp_path: Path, recorder: SpanRecorder) -> None:
    """Item 2: a process merged a dead file into its own, then died before removing it."""
    folder = tmp_path / "spool"
    cfg = config(store, folder)
    dead = dead_file(folder, "spool-1-aaaaaaaaaaaa", spool_identity(cfg), 50, recorder)
    merger = SpoolFile(folder / "spool-2-bbbbbbbbbbbb.db", spool_identity(cfg))
    assert merger.merge(dead, "spool-1-aaaaaaaaaaaa")[0]  # ... and here the merging process was killed
    merger.close()
    (folder / f"spool-2-bbbbbbbbbbbb{LOCK}").touch()
    assert dead.exists()
    write_all(cfg)
    assert_traces_once(store, 50)
    assert spooled_span_count(folder) == 0


def test_dead_files_are_merged_in_the_order_they_were_made(
    store: Store, tmp_path: Path, recorder: SpanRecorder
) -> None:
    """A writer process takes over the files an app hands off every half second, several at once when it lags: it
    files their requests in the order they came (a window's steps and table rows; feedback after its request)."""
    import dataclasses
    import json

    import mlflow

    from otel_mlflow.export.spool.folder import OwnedSpool

    folder = tmp_path / "spool"
    cfg = dataclasses.replace(config(store, folder), run_mode="window")
    for i in range(6):  # made one after the other, as hand-offs are
        owned = OwnedSpool.create(folder, spool_identity(cfg))
        with recorder.tracer.start_as_current_span("POST /ask") as root:
            root.set_attribute(A.QUESTION, f"q{i}")
        spans = recorder.take()
        blob, positions = encode_batch(spans)
        owned.spool.append(blob, [(p, f"{s.context.trace_id:032x}") for p, s in zip(positions, spans, strict=True)])
        owned.close(remove_if_empty=False)  # its lock goes with it: handed off
    write_all(cfg)
    [run] = store.runs()
    table = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/predictions.json", tracking_uri=store.uri)
        ).read_text()
    )
    column = table["columns"].index("question")
    assert [row[column] for row in table["data"]] == [f"q{i}" for i in range(6)]


def test_a_shared_folder_never_writes_one_stores_spans_into_another(
    store: Store, tmp_path: Path, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 3: two apps, two stores, one OTEL_MLFLOW_SPOOL_DIR; one of them died with spans spooled."""
    folder = tmp_path / "shared"
    other = make_store(tmp_path / "other")
    mine, theirs = config(store, folder), config(other, folder, experiment="their-experiment")
    dead_file(folder, "spool-3-cccccccccccc", spool_identity(theirs), 30, recorder)
    with caplog.at_level(logging.WARNING):
        write_all(mine)
    assert store.runs() == [] and store.runs("their-experiment") == []
    assert spooled_span_count(folder) == 60  # left for its own store
    [warning] = [r.getMessage() for r in caplog.records if "leaves the spool file" in r.getMessage()]
    assert "their-experiment" in warning and "otel-mlflow drain" in warning
    write_all(theirs)  # what `otel-mlflow drain` does with that store's settings
    assert_traces_once(other, 30, "their-experiment")
    assert spooled_span_count(folder) == 0


def test_damaged_files_are_set_aside_once_with_their_readable_batches_written(
    store: Store, tmp_path: Path, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 5: a truncated file, one of garbage and a folder named like a spool file, at start: one warning each,
    no traceback every 5 s, and what can be read of the truncated one is written."""
    folder = tmp_path / "spool"
    cfg = config(store, folder)
    truncated = dead_file(folder, "spool-4-dddddddddddd", spool_identity(cfg), 40, recorder)
    with open(truncated, "r+b") as fh:
        fh.truncate(os.path.getsize(truncated) // 2)
    (folder / "spool-5-eeeeeeeeeeee.db").write_bytes(os.urandom(10_000))
    (folder / f"spool-5-eeeeeeeeeeee{LOCK}").touch()
    (folder / "spool-6-ffffffffffff.db").mkdir()
    from otel_mlflow import MLflowSpanExporter

    with caplog.at_level(logging.WARNING):
        exporter = MLflowSpanExporter(config=cfg)
        assert exporter.force_flush(60_000)
        time.sleep(6)  # a second take-over pass (every 5 s) finds nothing more to say
        assert exporter.force_flush(60_000)
        exporter.shutdown()
    warnings = [r.getMessage() for r in caplog.records if "could not read the spool file" in r.getMessage()]
    assert len(warnings) == 3, warnings
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    saved = len(store.runs())
    assert 0 < saved < 40, saved  # the readable half of the truncated file
    assert_traces_once(store, saved)
    aside = sorted(p.name for p in folder.glob("*.damaged"))
    assert aside == [f"spool-{n}-{c * 12}.db.damaged" for n, c in ((4, "d"), (5, "e"), (6, "f"))]
