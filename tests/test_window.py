"""Serving windows: one run per service and configuration per window, with aggregates and a table."""

from __future__ import annotations

import json
import time
from typing import Any

import mlflow
import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.export.pending.windows import WindowSet
from otel_mlflow.mapping.request_record import request_record
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.window import window_plan
from otel_mlflow.mapping.window_points import percentile
from tests.helpers import SpanRecorder, Store

BASE_NS = 1_800_000_000 * 10**9


def request(
    recorder: SpanRecorder,
    i: int,
    latency_ms: float,
    *,
    k: int = 2,
    fail: bool = False,
    kind: SpanKind = SpanKind.SERVER,
    model: str = "gpt-4",
    first_chunk_s: Any = None,
    response_model: str | None = None,
) -> list[Any]:
    """One request trace with exact times: root lasting latency_ms, a chat child with tokens."""
    start = BASE_NS + i * 1_000_000_000
    end = start + int(latency_ms * 1_000_000)
    root = recorder.tracer.start_span("POST /ask", kind=kind, start_time=start)
    root.set_attribute(A.QUESTION, f"question {i}")
    root.set_attribute(A.ANSWER, f"answer {i}")
    root.set_attribute(A.PARAM_PREFIX + "k", k)
    root.set_attribute(A.USER_FEEDBACK, "helpful")
    from opentelemetry import trace

    chat = recorder.tracer.start_span("chat", context=trace.set_span_in_context(root), start_time=start + 1000)
    chat.set_attribute(A.GEN_AI_REQUEST_MODEL, model)
    chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 10 + i)
    chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 5)
    if response_model is not None:
        chat.set_attribute(A.GEN_AI_RESPONSE_MODEL, response_model)
    if first_chunk_s is not None:
        chat.set_attribute(A.GEN_AI_TIME_TO_FIRST_CHUNK, first_chunk_s)
    if fail:
        chat.set_status(Status(StatusCode.ERROR, "boom"))
    chat.end(end_time=end - 1000)
    root.end(end_time=end)
    return recorder.take()


def test_percentile_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95 and percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0


def test_window_set_groups_by_configuration_and_closes_by_time_and_count(recorder: SpanRecorder) -> None:
    windows = WindowSet(seconds=10, max_requests=3)
    for i in range(4):
        windows.add(request_record(request(recorder, i, 10, k=2)), now=0)
    windows.add(request_record(request(recorder, 9, 10, k=5)), now=0)
    assert len(windows) == 3  # k=2 full after 3 (closed), k=2 again, k=5
    assert sum(w.closed for w in windows.all()) == 1
    windows.close_expired(now=10)
    assert all(w.closed for w in windows.all())


def test_a_request_that_knows_less_of_its_configuration_joins_its_window(recorder: SpanRecorder) -> None:
    windows = WindowSet(seconds=60, max_requests=100)
    windows.add(request_record(request(recorder, 0, 10, k=2)), now=0)
    failed = request_record(request(recorder, 1, 10, k=2))
    del failed.params["model"]  # the call failed before it reported its model
    windows.add(failed, now=0)
    windows.add(request_record(request(recorder, 2, 10, k=5)), now=0)
    assert sorted(len(w.records) for w in windows.all()) == [1, 2]


def test_window_plan_increments_then_aggregates(recorder: SpanRecorder) -> None:
    windows = WindowSet(seconds=60, max_requests=100)
    for i, latency in enumerate([10, 20, 30, 40]):
        windows.add(request_record(request(recorder, i, latency, fail=(i == 3))), now=0)
    [window] = windows.all()
    plan, upto = window_plan(window, MappingOptions())
    assert upto == 4 and plan.run_id is None and plan.end_run is False
    assert plan.params == {"model": "gpt-4", "k": "2"}
    assert [(m.step, m.value) for m in plan.metrics if m.key == "latency_ms"] == [(0, 10), (1, 20), (2, 30), (3, 40)]
    assert all(m.absolute for m in plan.metrics)
    assert "predictions.json" not in plan.artifacts
    window.run_id, window.synced = "run-1", upto
    windows.add(request_record(request(recorder, 4, 50)), now=1)
    windows.close_expired(now=61)
    final, _ = window_plan(window, MappingOptions())
    assert final.run_id == "run-1" and final.end_run is True and final.params == {}
    assert [(m.step, m.value) for m in final.metrics if m.key == "latency_ms"] == [(4, 50)]
    aggregates = {m.key: m.value for m in final.metrics if m.step == 0 and m.key != "latency_ms"}
    assert aggregates["request_count"] == 5 and aggregates["error_count"] == 1
    assert aggregates["error_rate"] == pytest.approx(0.2)
    assert aggregates["latency_ms.p50"] == 30 and aggregates["latency_ms.p99"] == 50
    assert aggregates["tokens.input_total"] == sum(10 + i for i in range(5))
    table = json.loads(final.artifacts["predictions.json"])
    assert table["columns"][:3] == ["timestamp", "question", "answer"]
    assert [row[1] for row in table["data"]] == [f"question {i}" for i in range(5)]
    assert [row[6] for row in table["data"]].count("error") == 1
    assert table["columns"][9] == "error" and [row[9] for row in table["data"]] == [None, None, None, "boom", None]


def test_time_to_first_chunk_per_request_and_its_percentiles(recorder: SpanRecorder) -> None:
    windows = WindowSet(seconds=60, max_requests=100)
    firsts: list[Any] = [0.2, None, 0.1, 0.4, -1.0, float("nan"), "soon", 0.3]  # odd values are not times
    for i, first in enumerate(firsts):
        windows.add(request_record(request(recorder, i, 500, first_chunk_s=first)), now=0)
    windows.close_expired(now=61)
    [window] = windows.all()
    plan, _ = window_plan(window, MappingOptions())
    steps = [(m.step, m.value) for m in plan.metrics if m.key == A.METRIC_TTFC]
    assert steps == [(0, 200), (2, 100), (3, 400), (7, 300)]
    values = {m.key: m.value for m in plan.metrics}
    assert values[A.METRIC_TTFC_P50] == 200 and values[A.METRIC_TTFC_P95] == 400
    windows = WindowSet(seconds=60, max_requests=100)  # nothing streamed: no such metric at all
    windows.add(request_record(request(recorder, 0, 500)), now=0)
    windows.close_expired(now=61)
    plan, _ = window_plan(windows.all()[0], MappingOptions())
    assert not [m for m in plan.metrics if "first_chunk" in m.key]


def test_each_replica_tags_its_window_runs_and_names_them_when_named(recorder: SpanRecorder) -> None:
    """Several processes write one experiment (receiver replicas, app workers): each keeps its own windows, so each
    window run says which process wrote it; a replica named by OTEL_MLFLOW_REPLICA carries its name in the run's."""
    from otel_mlflow.config import Config

    windows = WindowSet(seconds=60, max_requests=100)
    windows.add(request_record(request(recorder, 0, 10)), now=0)
    [window] = windows.all()
    named = Config.from_env(env={"OTEL_MLFLOW_REPLICA": "receiver-1"})
    plan, _ = window_plan(window, MappingOptions(replica=named.replica_id, replica_in_name=True))
    assert plan.tags[A.TAG_REPLICA] == "receiver-1" and plan.run_name.endswith(" [receiver-1]")
    default = Config.from_env(env={}).replica_id
    import os

    assert default.endswith(f"/{os.getpid()}")
    plan, _ = window_plan(window, MappingOptions(replica=default))
    assert plan.tags[A.TAG_REPLICA] == default and "[" not in plan.run_name


def test_window_mode_into_sqlite(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter(run_mode="window", window_seconds=3600, steps="request")
    latencies = [float(10 * (i + 1)) for i in range(20)]
    for i, latency in enumerate(latencies):
        exporter.export(request(recorder, i, latency, fail=(i % 10 == 9)))
    assert exporter.force_flush(30_000)
    [run] = store.runs()
    assert run.info.status == "RUNNING"  # the window is still open
    history = store.client().get_metric_history(run.info.run_id, "latency_ms")
    assert sorted((m.step, m.value) for m in history) == list(enumerate(latencies))
    assert {m.timestamp for m in history} == {
        (BASE_NS + i * 10**9 + int(latencies[i] * 1e6)) // 10**6 for i in range(20)
    }
    exporter.shutdown()  # closes the window
    [run] = store.runs()
    assert run.info.status == "FINISHED"
    assert run.data.params == {"model": "gpt-4", "k": "2"}
    assert run.data.metrics["request_count"] == 20 and run.data.metrics["error_count"] == 2
    assert run.data.metrics["latency_ms.p50"] == 100 and run.data.metrics["latency_ms.p95"] == 190
    assert run.data.tags["otel_mlflow.run_mode"] == "window"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.uri)  # load_table searches through the global tracking URI
    try:
        table = store.client().load_table(run.info.experiment_id, "predictions.json", run_ids=[run.info.run_id])
    finally:
        mlflow.set_tracking_uri(previous)
    assert len(table) == 20 and list(table["question"])[:2] == ["question 0", "question 1"]
    assert exporter.stats.spans_written == 40 and exporter.stats.runs_created == 1


def test_a_predictions_table_in_parts_loads_whole_in_mlflow(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    """Past ``OTEL_MLFLOW_MAX_TEXT_CHARS`` the table is written in parts (issue 27 item 4): MLflow's own
    ``load_table`` reads every part listed in the run's ``mlflow.loggedArtifacts``, and the rows add up."""
    exporter = make_exporter(run_mode="window", window_seconds=3600, max_text_chars=3_000)
    for i in range(40):
        exporter.export(request(recorder, i, 10.0 + i))
    exporter.shutdown()
    [run] = store.runs()
    parts = [entry["path"] for entry in json.loads(run.data.tags["mlflow.loggedArtifacts"])]
    assert len(parts) >= 3 and set(parts) == {p for p in store.artifact_paths(run) if p.startswith("predictions")}
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(store.uri)  # load_table searches through the global tracking URI
    try:
        tables = [store.client().load_table(run.info.experiment_id, part, run_ids=[run.info.run_id]) for part in parts]
    finally:
        mlflow.set_tracking_uri(previous)
    questions = [q for table in tables for q in table["question"]]
    assert questions == [f"question {i}" for i in range(40)]
    assert run.data.metrics["request_count"] == 40 and A.TAG_TRUNCATED not in run.data.tags


def test_configurations_get_their_own_runs_and_restart_opens_new_windows(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    first = make_exporter(run_mode="window")
    for i in range(3):
        first.export(request(recorder, i, 10, k=2))
        first.export(request(recorder, i, 10, k=5))
    first.shutdown()
    runs = store.runs()
    assert sorted(r.data.params["k"] for r in runs) == ["2", "5"]
    before = {r.info.run_id: (r.data.metrics, r.info.status) for r in runs}
    second = make_exporter(run_mode="window")  # a restarted process
    second.export(request(recorder, 7, 10, k=2))
    second.shutdown()
    after = store.runs()
    assert len(after) == 3
    for run in after:
        if run.info.run_id in before:
            assert (run.data.metrics, run.info.status) == before[run.info.run_id]  # old runs untouched


def test_auto_mode_windows_server_requests_only(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter(run_mode="auto")
    for i in range(3):
        exporter.export(request(recorder, i, 10))
    exporter.export(request(recorder, 5, 10, kind=SpanKind.INTERNAL))  # a batch job: a run of its own
    exporter.shutdown()
    modes = sorted(r.data.tags.get("otel_mlflow.run_mode", "trace") for r in store.runs())
    assert modes == ["trace", "window"]


def test_window_request_cap(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter(run_mode="window", window_max_requests=5)
    for i in range(12):
        exporter.export(request(recorder, i, 10))
    exporter.shutdown()
    counts = sorted(r.data.metrics["request_count"] for r in store.runs())
    assert counts == [2, 5, 5]


def test_a_child_that_ends_after_its_server_root_joins_the_request(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    """Streamed answers and background work end after the SERVER span; the BatchSpanProcessor exports them
    in a later batch. Within the grace period they join the request: its tokens count, no extra run."""
    from opentelemetry import trace

    exporter = make_exporter(run_mode="window")
    root = recorder.tracer.start_span("POST /ask", kind=SpanKind.SERVER)
    root.set_attribute(A.PARAM_PREFIX + "k", 2)
    stream = recorder.tracer.start_span("chat", context=trace.set_span_in_context(root))
    stream.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
    root.end()
    exporter.export(recorder.take())  # the root alone, as the SDK's first batch
    time.sleep(0.5)  # the writer plans many times meanwhile (flush interval 0.05 s)
    stream.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 11)
    stream.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 22)
    stream.end()
    exporter.export(recorder.take())  # the child, a batch later
    exporter.shutdown()
    [run] = store.runs()
    assert run.data.metrics["request_count"] == 1
    assert run.data.metrics["tokens.total"] == 33  # the late child's tokens are the request's
    assert run.data.params.get("model") == "gpt-4"
