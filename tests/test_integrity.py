"""Records that come out right under hostile values (issue 13): token counts of every shape, training runs
that fail or nest, colliding artifact names, artifact writes that fail, children that end after their
request, and time that runs backwards. Everything through a real sqlite store; statuses checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pytest
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.mapping.limits import MAX_PARAM_VALUE_CHARS
from otel_mlflow.testing import Capture
from tests.helpers import SpanRecorder, Store, wait_for
from tests.otlp_bodies import json_body, protobuf_body
from tests.test_receiver import JS, PB, post

BAD_COUNTS = [-5, float("nan"), float("inf"), "lots", "-3"]


def chat(recorder: SpanRecorder, input_tokens: Any, output_tokens: Any = 1, **times: int) -> None:
    with recorder.tracer.start_as_current_span("chat m", kind=SpanKind.CLIENT, **times) as span:
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
        span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, input_tokens)
        span.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens)


@pytest.mark.parametrize("run_mode", ["trace", "window"])
def test_token_counts_from_numeric_strings_and_bad_ones_dropped_and_counted(
    recorder: SpanRecorder, store: Store, make_exporter: Any, run_mode: str
) -> None:
    exporter = make_exporter(run_mode=run_mode)
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        chat(recorder, "120", " 30 ")
        for bad in BAD_COUNTS:
            chat(recorder, bad)
    exporter.export(recorder.take())
    exporter.shutdown()
    [run] = store.runs()
    history = store.client().get_metric_history(run.info.run_id, A.GEN_AI_USAGE_INPUT_TOKENS)
    assert [m.value for m in history] == [120.0]  # "120" counted; -5, NaN, inf, "lots", "-3" left out
    assert all(
        m.value >= 0 for key in run.data.metrics for m in store.client().get_metric_history(run.info.run_id, key)
    )
    assert run.data.tags[A.TAG_DROPPED_TOKENS] == str(len(BAD_COUNTS))
    if run_mode == "window":
        assert run.data.metrics[A.METRIC_INPUT_TOTAL] == 120  # the bad counts are not in the totals either


def test_training_run_with_a_bad_param_name_never_starts_and_the_next_one_works(otel_mlflow_capture: Capture) -> None:
    from otel_mlflow import log_training_run

    @log_training_run(run_name="bad", params={"learning rate?": 0.1})
    def bad() -> None:
        raise AssertionError("the body must not run")

    with pytest.raises(ValueError, match="'learning rate\\?' is not one MLflow accepts"):
        bad()
    with pytest.raises(ValueError, match="over MLflow's 6000"):
        log_training_run(params={"p": "x" * (MAX_PARAM_VALUE_CHARS + 1)})(lambda: None)()
    assert mlflow.active_run() is None

    @log_training_run(run_name="good", params={"k": 3})
    def good() -> str:
        return "done"

    assert good() == "done"
    assert [(r.info.run_name, r.info.status) for r in otel_mlflow_capture.runs()] == [("good", "FINISHED")]


def test_training_runs_nest_and_an_error_ends_them_failed(otel_mlflow_capture: Capture) -> None:
    from otel_mlflow import log_training_run

    @log_training_run(run_name="inner")
    def inner() -> None:
        mlflow.log_metric("inner_loss", 0.1)
        raise RuntimeError("diverged")

    @log_training_run(run_name="outer")
    def outer() -> None:
        with pytest.raises(RuntimeError):
            inner()
        mlflow.log_metric("outer_loss", 0.2)

    outer()
    assert mlflow.active_run() is None
    runs = {r.info.run_name: r for r in otel_mlflow_capture.runs()}
    assert runs["outer"].info.status == "FINISHED" and runs["inner"].info.status == "FAILED"
    assert runs["inner"].data.tags["mlflow.parentRunId"] == runs["outer"].info.run_id
    assert "inner_loss" in runs["inner"].data.metrics and "outer_loss" not in runs["inner"].data.metrics
    assert "outer_loss" in runs["outer"].data.metrics and "inner_loss" not in runs["outer"].data.metrics


def test_colliding_overflow_artifact_names_are_both_kept(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    long = "v" * (MAX_PARAM_VALUE_CHARS + 10)
    exporter = make_exporter()
    with recorder.tracer.start_as_current_span("job") as span:
        span.set_attribute(A.PARAM_PREFIX + "a", long + "1")
        span.set_attribute(A.PARAM_PREFIX + "a.txt/b", long + "2")
    exporter.export(recorder.take())
    exporter.shutdown()
    [run] = store.runs()
    assert run.info.status == "FINISHED"
    paths = {p for p in _all_artifacts(store, run)}
    kept = {store.artifact_text(run, p)[-1] for p in paths if p.startswith("overflow/params/")}
    assert kept == {"1", "2"}, paths
    assert exporter.stats.spans_dropped_write_failed == 0


def _all_artifacts(store: Store, run: Any, path: str = "") -> list[str]:
    out: list[str] = []
    for info in store.client().list_artifacts(run.info.run_id, path or None):
        out.extend(_all_artifacts(store, run, info.path) if info.is_dir else [info.path])
    return out


def test_an_artifact_write_given_up_ends_the_run_failed_with_the_reason(
    recorder: SpanRecorder, store: Store, make_exporter: Any, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "artifacts-is-a-file"
    not_a_folder.write_text("x")
    exporter = make_exporter(artifact_location=str(not_a_folder / "deeper"), spool=False, retry_timeout=1.0)
    with recorder.tracer.start_as_current_span("job") as span:
        span.set_attribute(A.GEN_AI_PROMPT, "hello")
    exporter.export(recorder.take())
    assert wait_for(lambda: exporter.stats.spans_dropped_write_failed == 1, 30)  # retried 1 s, then given up
    exporter.shutdown()
    [run] = store.runs()
    assert run.info.status == "FAILED"  # never left RUNNING
    assert "Error" in run.data.tags[A.TAG_WRITE_ERROR]
    assert exporter.stats.spans_dropped_write_failed == 1


def test_late_children_join_their_request_in_window_mode(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(run_mode="window")
    hours = 3 * 3600 * 10**9
    for n in range(3):
        with recorder.tracer.start_as_current_span(f"POST /ask {n}", kind=SpanKind.SERVER) as root:
            context = root.get_span_context()
            chat(recorder, 10)
        late = recorder.tracer.start_span(
            "chat m", context=_as_parent(context), kind=SpanKind.CLIENT, start_time=root.end_time + hours
        )
        late.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
        late.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 5)
        exporter.export(recorder.take())  # the request alone first
        assert exporter.force_flush(20_000)  # filed in its window: its record is made, its step written
        late.end(end_time=root.end_time + hours + 10**9)  # three hours after its request ended
        exporter.export(recorder.take())
        assert exporter.force_flush(20_000)
    exporter.shutdown()
    [run] = store.runs()  # one window run: no extra "incomplete" run per request
    assert run.info.status == "FINISHED"
    assert run.data.metrics[A.METRIC_REQUESTS] == 3
    assert run.data.metrics[A.METRIC_INPUT_TOTAL] == 3 * (10 + 5)  # the late tokens are in the totals
    assert run.data.tags[A.TAG_LATE_SPANS] == "3"
    rows = json.loads(store.artifact_text(run, "predictions.json"))["data"]
    assert [row[4] for row in rows] == [15, 15, 15]
    assert exporter.stats.spans_joined_late == 3 and exporter.stats.spans_dropped_late == 0


def test_a_child_of_a_request_whose_window_was_written_makes_no_run(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(run_mode="window", window_seconds=0.2)
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        context = root.get_span_context()
    late = recorder.tracer.start_span("chat m", context=_as_parent(context), kind=SpanKind.CLIENT)
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    store_runs = store.runs()
    assert len(store_runs) == 1
    import time

    deadline = time.monotonic() + 20
    while store.runs()[0].info.status != "FINISHED" and time.monotonic() < deadline:  # the window closes
        exporter.force_flush(1_000)
        time.sleep(0.1)
    late.end()
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    exporter.shutdown()
    assert len(store.runs()) == 1  # never an extra run
    assert exporter.stats.spans_dropped_late == 1  # counted, with a warning


def _as_parent(span_context: Any) -> Any:
    from opentelemetry.trace import NonRecordingSpan, set_span_in_context

    return set_span_in_context(NonRecordingSpan(span_context))


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_time_that_runs_backwards_is_clamped_and_tagged_on_every_path(
    recorder: SpanRecorder, store: Store, make_exporter: Any, start_receiver: Any, encoding: str
) -> None:
    span = recorder.tracer.start_span("backwards", start_time=2_000_000_000_000)
    span.end(end_time=1_000_000_000_000)
    spans = recorder.take()
    in_process = make_exporter(experiment_name="in-process")
    in_process.export(spans)
    in_process.shutdown()
    receiver = start_receiver(experiment_name="received")
    body, headers = (protobuf_body(spans), PB) if encoding == "protobuf" else (json_body(spans), JS)
    assert post(receiver, body, headers).status_code == 200  # accepted, not refused
    assert receiver.exporter.force_flush(20_000)
    for experiment in ("in-process", "received"):
        [run] = store.runs(experiment)
        assert run.data.metrics[A.METRIC_LATENCY] == 0
        assert run.data.tags[A.TAG_BACKWARDS_SPANS] == "1"
        assert run.info.end_time == run.info.start_time == 2_000_000
