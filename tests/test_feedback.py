"""Feedback where MLflow shows it: MLflow feedback assessments on the request's trace, counts in its window run.

Real SDK spans, a real sqlite store (the server path is in tests/test_server.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow import current_trace_id, log_feedback, log_prediction
from otel_mlflow.export.mlflow.traces import MLflowTraces, TraceNotStored
from otel_mlflow.mapping.feedback import FeedbackNote, feedback_counts, feedback_notes
from otel_mlflow.testing import Capture
from tests.helpers import SpanRecorder


@pytest.fixture
def window_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Served requests into one window run (requested before otel_mlflow_capture, which reads the environment)."""
    monkeypatch.setenv("OTEL_MLFLOW_RUN_MODE", "window")
    monkeypatch.setenv("OTEL_MLFLOW_WINDOW_SECONDS", "600")


def serve(capture: Capture, question: str, feedback: str | None = None) -> str:
    """One served request; returns its trace id as the app would hand it to the client."""
    tracer = capture.pipeline.provider.get_tracer("test")
    with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, question)
        root.set_attribute(A.ANSWER, f"answer to {question}")
        root.set_attribute(A.GEN_AI_REQUEST_MODEL, "demo-llm")
        if feedback is not None:
            log_prediction(question=question, answer="-", user_feedback=feedback)
        trace_id = current_trace_id()
    assert trace_id is not None
    return trace_id


def assessments(capture: Capture, otel_trace_id: str) -> list[Any]:
    client = mlflow.MlflowClient(capture.tracking_uri)
    experiment = client.get_experiment_by_name(capture.experiment_name)
    [found] = [
        t for t in client.search_traces(locations=[experiment.experiment_id]) if otel_trace_id in t.info.trace_id
    ]
    return [a for a in found.info.assessments if a.name == A.DEFAULT_FEEDBACK_NAME]


def test_feedback_later_and_with_the_request_become_assessments_and_window_counts(
    window_env: None, otel_mlflow_capture: Capture
) -> None:
    capture = otel_mlflow_capture
    ids = [serve(capture, "q0", feedback="helpful"), serve(capture, "q1"), serve(capture, "q2"), serve(capture, "q3")]
    assert capture.flush()  # the requests are filed in their window and their traces are in MLflow
    log_feedback(ids[1], "wrong", comment="it said password=hunter2 is the answer", user="user-7")
    log_feedback(ids[2], True)
    log_feedback(ids[2].upper(), True)  # the same click sent twice counts twice: two assessments
    assert capture.flush()
    capture.pipeline.provider.shutdown()  # closes the window: its aggregates and table
    [run] = capture.runs()
    assert run.data.metrics["feedback.helpful"] == 1
    assert run.data.metrics["feedback.wrong"] == 1
    assert run.data.metrics["feedback.True"] == 1
    assert "feedback.other" not in run.data.metrics
    assert run.data.metrics["request_count"] == 4  # the feedback made no request and no run of its own
    table = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                f"{run.info.artifact_uri}/predictions.json", tracking_uri=capture.tracking_uri
            )
        ).read_text()
    )
    column = table["columns"].index("feedback")
    assert [row[column] for row in table["data"]] == ["helpful", "wrong", "True", None]

    [given] = assessments(capture, ids[0])
    assert given.value == "helpful" and given.source.source_type == "HUMAN"
    [wrong] = assessments(capture, ids[1])
    assert wrong.value == "wrong" and wrong.source.source_id == "user-7"
    assert "hunter2" not in wrong.rationale and "password=" in wrong.rationale
    assert [a.value for a in assessments(capture, ids[2])] == [True, True]
    assert assessments(capture, ids[3]) == []


def request_and_feedback(
    recorder: SpanRecorder, question: str, value: str
) -> tuple[list[ReadableSpan], list[ReadableSpan], str]:
    """A served request's spans, the spans of the feedback given on it later, and its trace id."""
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, question)
        root.set_attribute(A.ANSWER, f"answer to {question}")
        root.set_attribute(A.GEN_AI_REQUEST_MODEL, "demo-llm")
    request = recorder.take()
    trace_id = f"{request[0].context.trace_id:032x}"
    with recorder.tracer.start_as_current_span("feedback") as span:
        span.set_attribute(A.FEEDBACK_TRACE_ID, trace_id)
        span.set_attribute(A.FEEDBACK_VALUE, value)
    return request, recorder.take(), trace_id


def test_feedback_that_overtakes_its_request_still_counts_in_its_window(
    window_env: None, otel_mlflow_capture: Capture, recorder: SpanRecorder
) -> None:
    """Feedback reaches the exporter before its request when another service's batch comes sooner, or when a
    writer process merges spool files out of order (a CI run of `make demo` lost a window's count so): the window
    counts it all the same, and MLflow gets its assessment once the trace is stored."""
    capture = otel_mlflow_capture
    exporter = capture.pipeline.exporter
    assert exporter is not None
    same_batch = request_and_feedback(recorder, "q0", "helpful")
    exporter.export([*same_batch[1], *same_batch[0]])  # one batch, the feedback first
    sooner = request_and_feedback(recorder, "q1", "wrong")
    exporter.export(sooner[1])
    assert capture.flush()  # the feedback is routed on its own (its job waits for the trace)
    exporter.export(sooner[0])
    in_order = request_and_feedback(recorder, "q2", "helpful")
    exporter.export(in_order[0])
    assert capture.flush()
    exporter.export(in_order[1])
    assert capture.flush()
    capture.pipeline.provider.shutdown()  # closes the window
    [run] = capture.runs()
    assert run.data.metrics["request_count"] == 3
    assert run.data.metrics["feedback.helpful"] == 2 and run.data.metrics["feedback.wrong"] == 1
    for (_, _, trace_id), value in zip((same_batch, sooner, in_order), ("helpful", "wrong", "helpful"), strict=True):
        assert [a.value for a in assessments(capture, trace_id)] == [value]


def test_early_feedback_is_kept_a_window_long_and_bounded() -> None:
    from otel_mlflow.export.pending.early_feedback import EARLY_FEEDBACK_MAX, EarlyFeedback

    early = EarlyFeedback(seconds=60.0)
    early.remember(1, "wrong", now=0.0)
    early.remember(1, "helpful", now=1.0)  # a later click on the same answer wins
    assert early.take(1, now=30.0) == "helpful" and early.take(1, now=30.0) is None  # taken once
    early.remember(2, "helpful", now=0.0)
    assert early.take(2, now=61.0) is None  # its request came too late to be the one it named
    for i in range(EARLY_FEEDBACK_MAX + 10):  # anyone may post feedback naming any trace: bounded
        early.remember(100 + i, "spam", now=5.0)
    assert early.take(100, now=5.0) is None and early.take(100 + EARLY_FEEDBACK_MAX + 9, now=5.0) == "spam"
    early.remember(7, "x", now=100.0)  # the old ones are forgotten as time passes
    assert early.take(105, now=100.0) is None


def test_logging_a_feedback_twice_leaves_one_assessment(window_env: None, otel_mlflow_capture: Capture) -> None:
    """A replay after a crash writes the same feedback span again: MLflow keeps it once."""
    capture = otel_mlflow_capture
    trace_id = serve(capture, "q")
    assert capture.flush()
    experiment = mlflow.MlflowClient(capture.tracking_uri).get_experiment_by_name(capture.experiment_name)
    traces = MLflowTraces(capture.tracking_uri)
    note = FeedbackNote(trace_id, "helpful", key="00f067aa0ba902b7")
    for _ in range(3):
        traces.log_feedback(note, experiment.experiment_id)
    assert len(assessments(capture, trace_id)) == 1
    with pytest.raises(TraceNotStored, match="no trace"):  # a trace MLflow does not have (yet): retried
        traces.log_feedback(FeedbackNote(uuid.uuid4().hex, "x", key="1"), experiment.experiment_id)


@pytest.mark.parametrize(
    ("trace_id", "value", "error"),
    [
        ("not-a-trace", "ok", "neither an OpenTelemetry trace id"),
        ("0" * 32, "ok", "neither an OpenTelemetry trace id"),
        (None, "ok", "neither an OpenTelemetry trace id"),
        ("ab" * 16, "", "non-empty text"),
        ("ab" * 16, float("nan"), "finite number"),
        ("ab" * 16, ["a"], "a bool or a finite number"),
        ("ab" * 16, "x" * 1001, "at most 1000"),
    ],
)
def test_bad_feedback_is_a_clear_error_before_anything_is_recorded(
    otel_mlflow_capture: Capture, trace_id: Any, value: Any, error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        log_feedback(trace_id, value)
    assert otel_mlflow_capture.spans() == []


def test_feedback_notes_and_counts_are_pure_and_bounded(recorder: SpanRecorder) -> None:
    target = uuid.uuid4().hex
    with recorder.tracer.start_as_current_span("feedback", context=trace.set_span_in_context(trace.INVALID_SPAN)) as s:
        s.set_attribute(A.FEEDBACK_TRACE_ID, target)
        s.set_attribute(A.FEEDBACK_VALUE, 4)
        s.set_attribute(A.FEEDBACK_COMMENT, "Bearer abcdefghijklmnopqrstuvwxyz0123")
    with recorder.tracer.start_as_current_span("prediction") as p:
        p.set_attribute(A.USER_FEEDBACK, "helpful")
    with recorder.tracer.start_as_current_span("odd") as o:
        o.set_attribute(A.FEEDBACK_TRACE_ID, target)
        o.set_attribute(A.FEEDBACK_VALUE, float("inf"))  # no usable value: skipped
    later, given = feedback_notes(recorder.take())
    assert later.trace_id == target and later.value == 4 and later.otel_trace_id == int(target, 16)
    assert "abcdefghij" not in (later.comment or "")
    assert given.value == "helpful" and given.trace_id == f"{p.get_span_context().trace_id:032x}"
    hostile = [f"value {i}" for i in range(5000)] + ["good"] * 3 + [None]
    counts = feedback_counts(hostile)
    assert len(counts) == 21 and counts["feedback.good"] == 3 and counts["feedback.other"] == 5000 - 19


def test_feedback_for_a_trace_that_never_comes_holds_neither_flush_nor_exit(
    window_env: None, otel_mlflow_capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26, item 6: one such feedback made flush(30) return False and every exit wait 62 s; 5,000 of them
    (anyone can post them to an app's feedback route) slowed real traces sevenfold. They wait, bounded, on their own."""
    import time

    from otel_mlflow.export.pending.routing import MAX_FEEDBACK_JOBS

    capture = otel_mlflow_capture
    real = serve(capture, "q")
    started = time.monotonic()
    for _ in range(MAX_FEEDBACK_JOBS + 100):
        log_feedback(uuid.uuid4().hex, "spam")
    log_feedback(real, "helpful")
    assert capture.flush(60)  # the real feedback is logged; the others wait for traces that never come
    assert time.monotonic() - started < 30
    assert [a.value for a in assessments(capture, real)] == ["helpful"]
    exporter = capture.pipeline.exporter
    assert exporter is not None
    assert exporter.stats.spans_dropped_feedback == 100  # past the bound: counted, never hoarded
    started = time.monotonic()
    capture.pipeline.provider.shutdown()
    assert time.monotonic() - started < 20  # exit did not wait for them (they stay spooled for their deadline)
    assert exporter.stats.spans_dropped_write_failed == 0


def test_the_feedback_wait_counts_from_when_it_was_given_not_from_a_replay(recorder: SpanRecorder) -> None:
    from otel_mlflow.export.pending.routing import FEEDBACK_WAIT_SECONDS, feedback_job
    from otel_mlflow.export.pending.traces import SpanGroup
    from otel_mlflow.mapping.run_plan import MappingOptions

    with recorder.tracer.start_as_current_span("feedback") as span:
        span.set_attribute(A.FEEDBACK_TRACE_ID, "ab" * 16)
        span.set_attribute(A.FEEDBACK_VALUE, "helpful")
    [given] = recorder.take()
    group = SpanGroup(given.context.trace_id, [given])
    given_at = given.end_time / 1e9
    fresh = feedback_job(group, MappingOptions(), now=100.0, window_seconds=60, wall=given_at)
    assert fresh.deadline == pytest.approx(100.0 + 60 + FEEDBACK_WAIT_SECONDS)
    replayed = feedback_job(group, MappingOptions(), now=100.0, window_seconds=60, wall=given_at + 3600)
    assert replayed.deadline == 100.0  # an hour later, at the next start: tried once, then given up
