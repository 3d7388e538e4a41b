"""The spool file and its codec, without MLflow: what goes in comes back out, once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel_mlflow.export.spool.codec import EncodeError, decode_batch, encode_batch
from otel_mlflow.export.spool.file import RunJournal, SpoolFile
from otel_mlflow.export.spool.folder import OwnedSpool
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from tests.helpers import SpanRecorder
from tests.test_hostile_spans import attributes, make_spans
from tests.test_mapping import rag_trace


def round_trip(spans: list[Any]) -> list[Any]:
    blob, positions = encode_batch(spans)
    decoded = decode_batch(blob)
    return [decoded[p] for p in positions]


def test_everything_a_span_carries_comes_back(recorder: SpanRecorder) -> None:
    rag_trace(recorder)
    with recorder.tracer.start_as_current_span(
        "linked", kind=SpanKind.CONSUMER, links=[Link(recorder.spans()[0].context, {"why": "retry"})]
    ) as span:
        span.add_event("chunk", {"n": 3, "texts": ("a", "b")})
        span.set_attribute("floats", (0.5, 1.5))
        span.set_status(Status(StatusCode.ERROR, "boom"))
    spans = recorder.take()
    for original, back in zip(spans, round_trip(spans), strict=True):
        assert back is not None
        assert (back.name, back.kind, back.start_time, back.end_time) == (
            original.name,
            original.kind,
            original.start_time,
            original.end_time,
        )
        assert back.context.trace_id == original.context.trace_id and back.context.span_id == original.context.span_id
        assert (back.parent.span_id if back.parent else None) == (original.parent.span_id if original.parent else None)
        assert dict(back.attributes) == dict(original.attributes)
        assert back.status.status_code == original.status.status_code
        assert back.status.description == original.status.description
        assert [(e.name, dict(e.attributes)["n"]) for e in back.events] == [
            (e.name, e.attributes["n"]) for e in original.events
        ]
        assert [lk.context.span_id for lk in back.links] == [lk.context.span_id for lk in original.links]
        assert dict(back.resource.attributes) == dict(original.resource.attributes)
    assert plan_run(round_trip(spans[:2]), MappingOptions()) == plan_run(spans[:2], MappingOptions())


def test_a_span_that_ends_before_it_starts_lasts_zero_ms_on_both_paths(recorder: SpanRecorder) -> None:
    span = recorder.tracer.start_span("backwards", start_time=2_000_000_000)
    span.end(end_time=1_000_000_000)
    [original] = recorder.take()
    [back] = round_trip([original])
    assert (back.start_time, back.end_time) == (2_000_000_000, 1_000_000_000)  # the spool keeps what was sent
    in_process, spooled = plan_run([original], MappingOptions()), plan_run([back], MappingOptions())
    assert in_process.metrics == spooled.metrics and in_process.end_ms == spooled.end_ms == 2000
    assert (
        in_process.tags["otel_mlflow.spans_ending_before_start"]
        == spooled.tags["otel_mlflow.spans_ending_before_start"]
        == "1"
    )


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(root=attributes, child=attributes)
@example(root={}, child={"gen_ai.request.model": "", "gen_ai.input.messages": ["0E0"]})  # arrays were lists
def test_hostile_spans_plan_the_same_after_the_spool_or_stay_in_memory(
    root: dict[str, Any], child: dict[str, Any]
) -> None:
    spans = make_spans(SpanRecorder(), "POST /ask", root, child)
    try:
        back = round_trip(spans)
    except EncodeError:
        return  # e.g. lone surrogates, which protobuf strings cannot hold: the exporter keeps them in memory
    assert plan_run(back, MappingOptions()) == plan_run(spans, MappingOptions())


def test_spool_file_retires_journals_and_merges_once(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "a.db")
    first = spool.append(b"x" * 100, [(0, "t1"), (1, "t1")])
    second = spool.append(b"y" * 50, [(0, "t2")])
    assert spool.span_count == 3 and spool.bytes == 150
    spool.journal_run("t1", None, RunJournal.CREATING)
    assert spool.run_of("t1") == (None, RunJournal.CREATING)
    spool.journal_run("t1", "run-1", RunJournal.CREATED)
    spool.retire([(first, 0), (first, 1)], run=("t1", "run-1"))
    assert spool.run_of("t1") == ("run-1", RunJournal.DONE)
    assert spool.batch_ids() == [second] and spool.bytes == 50
    assert spool.load(second) == (b"y" * 50, {0})
    other = SpoolFile(tmp_path / "b.db")
    other.append(b"z" * 10, [(0, "t3"), (3, "t3")])
    other.close()
    merged, windows = spool.merge(tmp_path / "b.db", "b")
    assert len(merged) == 1 and merged[0] > second and windows == 0  # the ids its batches got here, past ours
    assert spool.merge(tmp_path / "b.db", "b") == ([], 0)  # a file merged once is never merged again
    spool.forget_merged(lambda name: False)  # still there: remembered
    assert spool.merged_sources() == {"b"}
    spool.forget_merged(lambda name: name == "b")  # gone: it cannot come back, forgotten
    assert spool.merged_sources() == set()
    assert spool.span_count == 3 and len(spool.batch_ids()) == 2


def test_the_journal_keeps_the_newest_written_traces(tmp_path: Path) -> None:
    spool = SpoolFile(tmp_path / "a.db")
    for i in range(30):
        spool.retire([], run=(f"t{i}", f"r{i}"))
    spool.journal_run("in-flight", None, RunJournal.CREATING)
    spool.prune_runs(keep=10)
    assert spool.run_of("t29") == ("r29", RunJournal.DONE) and spool.run_of("t0") is None
    assert spool.run_of("in-flight") == (None, RunJournal.CREATING)  # never pruned: a replay needs it


def test_spool_files_are_owner_only(tmp_path: Path) -> None:
    owned = OwnedSpool.create(tmp_path / "spool")
    db = next((tmp_path / "spool").glob("spool-*.db"))
    assert db.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700
    owned.close()
    assert not list((tmp_path / "spool").glob("spool-*"))  # an empty file is removed at close


def test_context_free_spans_are_refused_by_the_codec(recorder: SpanRecorder) -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    with pytest.raises(EncodeError):
        encode_batch([ReadableSpan(name="no context")])


def _version_1_file(path: Path) -> None:
    """A spool file as version 1 wrote it: no ``held`` column, held spans marked by ``trace = 'held'``."""
    import sqlite3

    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE batches (id INTEGER PRIMARY KEY, data BLOB NOT NULL, bytes INTEGER NOT NULL);
        CREATE TABLE spans (batch INTEGER NOT NULL, pos INTEGER NOT NULL, trace TEXT NOT NULL,
                            PRIMARY KEY (batch, pos)) WITHOUT ROWID;
        CREATE TABLE runs (trace TEXT PRIMARY KEY, run_id TEXT, state TEXT NOT NULL, updated REAL NOT NULL);
        CREATE TABLE windows (id TEXT PRIMARY KEY, data TEXT NOT NULL, run_id TEXT, state TEXT,
                              synced INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE records (window TEXT NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL,
                              PRIMARY KEY (window, idx)) WITHOUT ROWID;
        CREATE TABLE merged (source TEXT PRIMARY KEY);
        INSERT INTO batches VALUES (1, x'00', 1);
        INSERT INTO spans VALUES (1, 0, 'aa'), (1, 1, 'held'), (1, 2, 'bb');
        INSERT INTO runs VALUES ('aa', NULL, 'creating', 0);
    """)
    db.commit()
    db.close()


def test_a_version_1_spool_file_is_upgraded_when_opened_or_merged(tmp_path: Path) -> None:
    _version_1_file(tmp_path / "old.db")
    old = SpoolFile(tmp_path / "old.db")
    assert old.load(1) == (b"\x00", {0, 2}) and old.load(1, held=True) == (b"\x00", {1})
    assert old.run_of("aa") == (None, RunJournal.CREATING)
    old.close()
    _version_1_file(tmp_path / "dead.db")
    spool = SpoolFile(tmp_path / "new.db")
    [batch], _ = spool.merge(tmp_path / "dead.db", "dead")
    assert spool.load(batch) == (b"\x00", {0, 2}) and spool.load(batch, held=True) == (b"\x00", {1})
    assert spool.span_count == 3
