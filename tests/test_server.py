"""The REST path: the exporter writing to a real `mlflow server` subprocess on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config
from tests.helpers import SpanRecorder, mlflow_server
from tests.test_mapping import rag_trace

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as url:
        yield url


def export_one_trace(url: str, recorder: SpanRecorder, experiment: str, **settings: Any) -> tuple[Any, list[Any]]:
    from mlflow import MlflowClient

    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri=url,
            experiment_name=experiment,
            flush_interval=0.05,
            **{"run_mode": "trace", **settings},
        )
    )
    try:
        rag_trace(recorder)
        spans = recorder.take()
        exporter.export(spans)
        assert exporter.force_flush(60_000)
    finally:
        exporter.shutdown()
    client = MlflowClient(tracking_uri=url)
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run, spans


def test_trace_is_written_through_the_rest_api(
    server_url: str, recorder: SpanRecorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlflow import MlflowClient

    run, _ = export_one_trace(server_url, recorder, "rest")
    assert "View run" not in capsys.readouterr().out  # no URL printed per run from the writer thread
    assert run.info.run_name == "POST /ask: What is RAG?"
    assert run.data.params["model"] == "gpt-4"
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert run.data.metrics["gen_ai.usage.output_tokens"] == 34
    client = MlflowClient(tracking_uri=server_url)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"prompt.txt", "response.txt", "spans.json"} <= artifacts
    local = client.download_artifacts(run.info.run_id, "prompt.txt", str(tmp_path))
    assert Path(local).read_text() == "user: What is RAG?"
    assert len(client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)) == 1  # by default


def test_no_traces_when_linking_is_off(server_url: str, recorder: SpanRecorder) -> None:
    from mlflow import MlflowClient

    run, _ = export_one_trace(server_url, recorder, "not-linked", link_traces=False)
    assert MlflowClient(tracking_uri=server_url).search_traces(locations=[run.info.experiment_id]) == []


def test_linked_traces_show_on_the_run(server_url: str, recorder: SpanRecorder) -> None:
    from mlflow import MlflowClient

    run, spans = export_one_trace(server_url, recorder, "linked", link_traces=True)
    client = MlflowClient(tracking_uri=server_url)
    traces = client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert len(traces) == 1
    root = next(s for s in spans if s.parent is None)
    assert format(root.context.trace_id, "032x") in traces[0].info.trace_id
    assert run.data.tags["otel_mlflow.trace_id"] == format(root.context.trace_id, "032x")
    assert {s.name for s in traces[0].data.spans} == {"POST /ask", "chat gpt-4"}


def window_of_requests(url: str, recorder: SpanRecorder, experiment: str, requests: int) -> tuple[Any, Any]:
    """``requests`` served requests (SERVER roots: the default auto mode windows them) exported 512 spans at a
    time, as the SDK hands them over; returns (client, the experiment's one run)."""
    from mlflow import MlflowClient

    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={}, tracking_uri=url, experiment_name=experiment, flush_interval=0.05, steps="request"
        )
    )
    try:
        for _ in range(requests):
            rag_trace(recorder)
        spans = recorder.take()
        for start in range(0, len(spans), 512):
            exporter.export(spans[start : start + 512])
        assert exporter.force_flush(180_000)
    finally:
        exporter.shutdown()
    client = MlflowClient(tracking_uri=url)
    [run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return client, run


def test_window_runs_link_every_request_trace(server_url: str, recorder: SpanRecorder) -> None:
    client, run = window_of_requests(server_url, recorder, "windows", 3)
    assert run.data.metrics["request_count"] == 3
    traces = client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert len(traces) == 3


def test_feedback_becomes_an_assessment_on_the_servers_trace(server_url: str, recorder: SpanRecorder) -> None:
    """Through /v1/traces the server derives its own trace ids (``tr-<hex>``): feedback finds them all the same."""
    from mlflow import MlflowClient
    from opentelemetry import context

    from otel_mlflow import attributes as A

    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={}, tracking_uri=server_url, experiment_name="feedback", flush_interval=0.05, run_mode="window"
        )
    )
    try:
        rag_trace(recorder)
        request = recorder.take()
        exporter.export(request)
        assert exporter.force_flush(60_000)
        target = f"{request[0].context.trace_id:032x}"
        with recorder.tracer.start_as_current_span("feedback", context=context.Context()) as span:  # as log_feedback
            span.set_attributes({A.FEEDBACK_TRACE_ID: target, A.FEEDBACK_VALUE: "helpful", A.USER_ID: "user-9"})
        exporter.export(recorder.take())
        assert exporter.force_flush(60_000)
    finally:
        exporter.shutdown()
    client = MlflowClient(tracking_uri=server_url)
    [run] = client.search_runs([client.get_experiment_by_name("feedback").experiment_id])
    assert run.data.metrics["feedback.helpful"] == 1 and run.data.metrics["request_count"] == 1
    [trace] = client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert trace.info.trace_id == f"tr-{target}"
    [feedback] = [a for a in trace.info.assessments if a.name == A.DEFAULT_FEEDBACK_NAME]
    assert feedback.value == "helpful" and feedback.source.source_id == "user-9"


def test_a_big_window_sync_lands_every_step_once_with_batches_in_flight(
    server_url: str, recorder: SpanRecorder
) -> None:
    """400 requests in one sync: 1,600+ metric values, log_batch calls sent two at a time, and 400 traces
    in /v1/traces calls of 50: every request's step lands exactly once and every trace is linked."""
    client, run = window_of_requests(server_url, recorder, "big-window", 400)
    assert run.data.metrics["request_count"] == 400
    for key in ("latency_ms", "gen_ai.usage.input_tokens"):
        history = client.get_metric_history(run.info.run_id, key)
        assert sorted(m.step for m in history) == list(range(400)), key
    linked, token = 0, None
    while True:
        page = client.search_traces(
            locations=[run.info.experiment_id], run_id=run.info.run_id, max_results=500, page_token=token
        )
        linked, token = linked + len(page), page.token
        if not token:
            break
    assert linked == 400


def test_batches_in_flight_report_what_landed_and_raise_the_failure(server_url: str) -> None:
    """Two log_batch calls at a time: one MLflow refuses raises once the other is done; what landed is reported,
    nothing after the failure is sent, and a retry of the rest completes the run with each step once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from otel_mlflow.export.mlflow.batches import log_batches
    from otel_mlflow.mapping.limits import Batch

    client = MlflowClient(tracking_uri=server_url)
    run_id = client.create_run(client.create_experiment("in-flight")).info.run_id
    good = [Batch(metrics=[("m", float(step), 1_000 + step, step)]) for step in range(4)]
    refused = Batch(metrics=[("../m", 1.0, 1_000, 0)])  # a name MLflow refuses
    batches = [(0, good[0]), (1, refused), (2, good[1]), (3, good[2])]
    landed: list[int] = []
    with pytest.raises(MlflowException):
        log_batches(client, run_id, batches, 2, lambda index, _: landed.append(index))
    assert 1 not in landed and 0 in landed and 3 not in landed  # batch 2 may have been in flight beside 1
    rest = [(i, b) for i, b in batches if i not in landed and i != 1] + [(4, good[3])]
    log_batches(client, run_id, rest, 2, lambda index, _: landed.append(index))
    assert sorted(m.step for m in client.get_metric_history(run_id, "m")) == [0, 1, 2, 3]
