"""Which MLflow traces are stored (``OTEL_MLFLOW_TRACES``): every request's numbers always, its trace by policy,
and what is not stored counted (issue 27). Pure decisions, then real SDK spans into a real sqlite store."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.config import ConfigError
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.trace_policy import Load, TracePolicy, Why, decide, sampled
from tests.helpers import SpanRecorder, Store


def record(failed: bool = False, latency_ms: float = 100.0, feedback: str | None = None) -> RequestRecord:
    return RequestRecord(uuid.uuid4().hex, "svc", 0, int(latency_ms * 1e6), failed, feedback=feedback)


def test_the_policies_decide_as_documented() -> None:
    assert decide(TracePolicy.parse("all"), record(), Load(backlog_seconds=1e9)) is Why.ALL
    assert decide(TracePolicy.parse("off"), record(failed=True), Load()) is Why.OFF
    adaptive, busy = TracePolicy.parse("adaptive"), Load(backlog_seconds=60, ratio=0.0, p95_ms=500, bound_seconds=10)
    assert decide(adaptive, record(), Load(backlog_seconds=9, ratio=0.0, bound_seconds=10)) is Why.ALL  # keeps up
    assert decide(adaptive, record(failed=True), busy) is Why.FAILED
    assert decide(adaptive, record(feedback="wrong"), busy) is Why.FEEDBACK
    assert decide(adaptive, record(latency_ms=900), busy) is Why.SLOW
    assert decide(adaptive, record(), Load(60, 0.0, 500, new_configuration=True, bound_seconds=10)) is Why.NEW
    assert decide(adaptive, record(), busy) is Why.OUT
    assert all(why.stored for why in (Why.ALL, Why.FAILED, Why.FEEDBACK, Why.SLOW, Why.NEW, Why.SAMPLED))
    assert not Why.OUT.stored and not Why.OFF.stored


def test_a_ratio_is_decided_by_trace_id_alike_everywhere() -> None:
    rng = random.Random(7)
    ids = [f"{rng.getrandbits(128):032x}" for _ in range(20_000)]  # as the SDK makes them (uuid4 fixes bits)
    share = sum(sampled(t, 0.1) for t in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [sampled(t, 0.1) for t in ids[:100]] == [sampled(t, 0.1) for t in ids[:100]]  # a replay agrees
    assert all(sampled(t, 0.5) for t in ids if sampled(t, 0.1))  # a larger share keeps what a smaller one kept
    for bad in ("0", "1.5", "most", "-1"):
        with pytest.raises(ConfigError, match=f"OTEL_MLFLOW_TRACES='{bad}' is not all, adaptive, off or a share"):
            TracePolicy.parse(bad)


def served(recorder: SpanRecorder, i: int, failed: bool = False) -> None:
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, f"question {i}")
        root.set_attribute(A.GEN_AI_REQUEST_MODEL, "demo-llm")
        if failed:
            root.set_status(Status(StatusCode.ERROR, "boom"))


def window_run_and_traces(store: Store, make_exporter: Any, recorder: SpanRecorder, policy: str, requests: int,
                          failed_every: int = 0, **settings: Any) -> tuple[Any, list[Any], set[str]]:  # fmt: skip
    exporter = make_exporter(run_mode="window", traces=policy, **settings)
    for i in range(requests):
        served(recorder, i, failed=bool(failed_every) and i % failed_every == 0)
        exporter.export(recorder.take())  # one request a batch, as a busy app hands them over
        if i % 50 == 49:
            exporter.force_flush(60_000)  # waves: the trace store's pace is measured between them
    exporter.shutdown()  # closes the window: its aggregates and table
    [run] = store.runs()
    table = json.loads(store.artifact_text(run, A.ARTIFACT_PREDICTIONS))
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    linked = {t.info.trace_metadata.get("mlflow.trace.otelTraceId", t.info.trace_id) for t in
              store.client().search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id,
                                           max_results=1000)}  # fmt: skip
    return run, rows, linked


def stored_ids(rows: list[dict[str, Any]], linked: set[str]) -> tuple[set[str], set[str]]:
    """The trace ids the table says were stored, and those found in MLflow (matched by the OTel id in either)."""
    said = {r["trace_id"] for r in rows if r["trace"] and r["trace"].startswith("stored")}
    found = {r["trace_id"] for r in rows if any(r["trace_id"] in t for t in linked)}
    return said, found


def test_a_share_stores_that_share_and_counts_the_rest(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    run, rows, linked = window_run_and_traces(store, make_exporter, recorder, "0.5", 60)
    said, found = stored_ids(rows, linked)
    assert said == found and 15 < len(said) < 45  # the table tells the truth about MLflow's traces
    assert run.data.metrics["traces.stored"] == len(said)
    assert (
        run.data.metrics["traces.stored"] + run.data.metrics["traces.sampled_out"]
        == run.data.metrics["request_count"]
        == 60
    )
    assert run.data.tags[A.TAG_TRACE_POLICY] == "0.5"
    assert {r["trace"] for r in rows} == {"stored: sampled", "sampled out"}


def test_off_stores_none_and_says_nothing_of_traces(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    run, rows, linked = window_run_and_traces(store, make_exporter, recorder, "off", 5)
    assert linked == set() and {r["trace"] for r in rows} == {None}
    assert "traces.stored" not in run.data.metrics and run.data.metrics["request_count"] == 5


def test_adaptive_past_its_backlog_keeps_every_failure_and_counts_the_rest(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    """A backlog bound of a millisecond: once the trace store's pace is measured, the policy keeps by priority."""
    run, rows, linked = window_run_and_traces(
        store,
        make_exporter,
        recorder,
        "adaptive",
        300,
        failed_every=10,
        trace_backlog_seconds=0.001,
        flush_interval=0.01,
    )
    said, found = stored_ids(rows, linked)
    assert said == found
    failed = {r["trace_id"] for r in rows if r["status"] == "error"}
    assert len(failed) == 30 and failed <= said  # every failed request's trace is in MLflow
    assert run.data.metrics["traces.stored"] + run.data.metrics["traces.sampled_out"] == 300
    assert run.data.metrics["traces.sampled_out"] > 0, "the backlog bound never applied"
    assert {r["trace"] for r in rows if r["trace_id"] in failed} <= {"stored", "stored: failed"}


def test_a_per_trace_run_keeps_its_numbers_and_says_whether_its_trace_was_stored(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(run_mode="trace", traces="0.5")
    for i in range(20):
        with recorder.tracer.start_as_current_span(f"job {i}"):
            pass
    exporter.export(recorder.take())
    assert exporter.force_flush(60_000)
    runs = store.runs()
    decisions = [r.data.tags[A.TAG_TRACE_DECISION] for r in runs]
    assert len(runs) == 20 and set(decisions) == {"stored: sampled", "sampled out"}
    for run in runs:  # numbers either way; a trace exactly when the run says so
        traces = store.client().search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
        assert run.data.metrics["span_count"] == 1
        assert len(traces) == (run.data.tags[A.TAG_TRACE_DECISION] == "stored: sampled")
