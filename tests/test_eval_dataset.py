"""Production cases for MLflow's evaluation (OTEL_MLFLOW_EVAL_DATASET): the failed, slow and disliked requests of a
closing window land in an MLflow GenAI evaluation dataset of a real sqlite store, each case once after a replay, with
the stored trace as source; mlflow.genai.evaluate runs built-in judges on the dataset and on our traces' RETRIEVER
spans against a judge model served locally (no internet)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

import mlflow
import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.config import Config, ConfigError
from otel_mlflow.config.eval_rule import CaseRule, parse_rule
from tests.fake_openai import JUDGE_RATIONALE, JudgeCompletions
from tests.helpers import SpanRecorder, Store
from tests.test_window import BASE_NS

SECRET = "sk-abcdefghijklmnopqrstuvwxyz0123456789"


def _request(
    recorder: SpanRecorder, i: int, latency_ms: float, fail: bool = False, feedback: str | None = None
) -> list[Any]:
    start = BASE_NS + i * 1_000_000_000
    root = recorder.tracer.start_span("POST /ask", kind=SpanKind.SERVER, start_time=start)
    root.set_attribute(A.QUESTION, f"question {i}: what does RAG retrieve? key {SECRET}")
    if not fail:
        root.set_attribute(A.ANSWER, f"answer {i}")
    if feedback:
        root.set_attribute(A.USER_FEEDBACK, feedback)
    call = recorder.tracer.start_span("generate_answer", context=trace.set_span_in_context(root), start_time=start + 1)
    call.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o-mini")
    call.set_attribute(A.CONTEXT, [f"Document {i} about retrieval.", "RAG retrieves documents, then answers."])
    call.end(end_time=start + int(latency_ms * 1e6) - 1)
    if fail:
        root.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    root.end(end_time=start + int(latency_ms * 1e6))
    return recorder.take()


TRAFFIC = [  # (latency ms, failed, feedback): cases are 1 (failed), 3 (slow), 4 (wrong), 6 (thumbs_down)
    (100.0, False, "helpful"),
    (120.0, True, None),
    (90.0, False, None),
    (2500.0, False, None),
    (110.0, False, "wrong"),
    (95.0, False, "helpful"),
    (105.0, False, "thumbs_down"),
]


def _serve(recorder: SpanRecorder, make_exporter: Any, **settings: Any) -> None:
    exporter = make_exporter(
        run_mode="window",
        window_seconds=3600,
        steps="request",
        eval_dataset="prod-cases",
        eval_rule=("failed", "latency_ms>2000", "feedback=negative"),
        traces="all",
        **settings,
    )
    for i, (latency, fail, feedback) in enumerate(TRAFFIC):
        exporter.export(_request(recorder, i, latency, fail, feedback))
    exporter.shutdown()


@pytest.fixture
def global_store(store: Store) -> Iterator[Store]:
    """mlflow.genai's dataset and evaluate APIs use the global tracking URI: the test store's, then put back."""
    before = os.environ.get("MLFLOW_TRACKING_URI")  # set_tracking_uri sets the variable too
    mlflow.set_tracking_uri(store.uri)
    mlflow.set_experiment("llmops-rag")
    yield store
    mlflow.set_tracking_uri(before)  # None: unset again, global and variable


def _records(store: Store) -> Any:
    from mlflow.genai.datasets import search_datasets

    experiment = store.client().get_experiment_by_name("llmops-rag")
    [dataset] = search_datasets(experiment_ids=[experiment.experiment_id])
    assert dataset.name == "prod-cases"
    return dataset, dataset.to_df()


def test_failed_slow_and_disliked_requests_become_cases_once_each_with_their_trace(
    recorder: SpanRecorder, global_store: Store, make_exporter: Any
) -> None:
    _serve(recorder, make_exporter)
    _, df = _records(global_store)
    by_reason = {row.tags["otel_mlflow.case"]: row for row in df.itertuples()}
    assert sorted(by_reason) == ["failed", "feedback=thumbs_down", "feedback=wrong", "slow"]
    assert by_reason["failed"].outputs == {"error": "upstream timed out"}
    assert by_reason["slow"].outputs == {"answer": "answer 3"} and not isinstance(by_reason["slow"].expectations, dict)
    assert by_reason["feedback=wrong"].expectations == {"user_feedback": "wrong"}
    assert all(SECRET not in str(row.inputs) and "question" in row.inputs for row in df.itertuples())
    for row in df.itertuples():  # the source is the request's MLflow trace, which is stored
        assert row.source_type == "TRACE"
        assert global_store.client().get_trace(row.source_id).info.trace_id == row.source_id
    _serve(recorder, make_exporter)  # the same requests again (a replay after a crash sends them twice)
    _, again = _records(global_store)
    assert len(again) == 4 and sorted(r.tags["otel_mlflow.case"] for r in again.itertuples()) == sorted(by_reason)


def test_with_content_capture_off_no_case_is_collected(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    _serve(recorder, make_exporter, capture_content=False)
    experiment = store.client().get_experiment_by_name("llmops-rag")
    assert list(store.client().search_datasets(experiment_ids=[experiment.experiment_id])) == []


def test_mlflow_judges_run_on_the_dataset_and_on_our_retriever_spans(
    recorder: SpanRecorder, global_store: Store, make_exporter: Any, judge_server: str
) -> None:
    from mlflow.genai.scorers import RelevanceToQuery, RetrievalGroundedness

    _serve(recorder, make_exporter)
    dataset, df = _records(global_store)
    result = mlflow.genai.evaluate(data=dataset, scorers=[RelevanceToQuery(model="openai:/gpt-4o-mini")])
    assert result.metrics["relevance_to_query/mean"] == 1.0
    asked = [str(r["messages"]) for r in JudgeCompletions.requests]
    assert len(asked) == len(df) and all(any(f"question {i}:" in a for a in asked) for i in (1, 3, 4, 6))
    JudgeCompletions.requests = []
    traces = mlflow.search_traces(return_type="list", max_results=3)
    grounded = mlflow.genai.evaluate(data=traces, scorers=[RetrievalGroundedness(model="openai:/gpt-4o-mini")])
    assert grounded.metrics["retrieval_groundedness/mean"] == 1.0
    prompts = " ".join(str(r["messages"]) for r in JudgeCompletions.requests)
    assert "RAG retrieves documents, then answers." in prompts  # the documents of our RETRIEVER span
    assessments = [a for t in grounded.result_df["assessments"] for a in t]
    assert any(JUDGE_RATIONALE in str(a) for a in assessments)


def test_the_rule_picks_by_reason_and_a_bad_rule_is_refused_by_name() -> None:
    rule = parse_rule("failed, latency_ms>2000, feedback=negative, feedback=meh")
    assert rule == CaseRule(True, 2000.0, ("negative", "meh"))
    assert rule.reason(False, 100.0, "Thumbs_Down") == "feedback=Thumbs_Down"
    assert rule.reason(False, 100.0, "meh") == "feedback=meh" and rule.reason(False, 100.0, "helpful") is None
    assert rule.reason(True, 3000.0, None) == "failed" and rule.reason(False, 3000.0, None) == "slow"
    for bad in ("slow", "latency_ms>fast", "feedback="):
        with pytest.raises(ConfigError, match=r"OTEL_MLFLOW_EVAL_RULE: .* is not failed, latency_ms>N or feedback"):
            Config.from_env(env={"OTEL_MLFLOW_EVAL_RULE": bad})


def test_the_mlflow_calls_the_dataset_writer_depends_on_still_exist(store: Store) -> None:
    """otel_mlflow/export/mlflow/eval_dataset.py writes through the client's own store (MLflow's merge_records uses
    the global tracking URI). When this fails, MLflow moved it: update that module."""
    import inspect

    upsert = store.client()._tracking_client.store.upsert_dataset_records
    assert list(inspect.signature(upsert).parameters) == ["dataset_id", "records"]
    assert "filter_string" in inspect.signature(store.client().search_datasets).parameters


def test_a_per_trace_run_of_a_failed_request_is_a_case_too(
    recorder: SpanRecorder, global_store: Store, make_exporter: Any
) -> None:
    """A batch job's traces (one run each, OTEL_MLFLOW_RUN_MODE=trace): the failed one is a case, the others not."""
    exporter = make_exporter(run_mode="trace", eval_dataset="prod-cases", eval_rule=("failed",))
    for i, fail in enumerate((False, True, False)):
        exporter.export(_request(recorder, i, 100.0, fail))
    exporter.shutdown()
    _, df = _records(global_store)
    [case] = list(df.itertuples())
    assert case.inputs["question"].startswith("question 1:") and case.outputs == {"error": "upstream timed out"}
    assert case.tags["otel_mlflow.case"] == "failed" and case.tags["param.model"] == "gpt-4o-mini"


def test_a_store_without_datasets_or_registry_costs_no_run(
    recorder: SpanRecorder,
    make_exporter: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """MLflow's file store has neither datasets nor a prompt registry (it answers 501): the runs are written all the
    same, the missing features told once each; nothing waits in the spool for a retry that cannot succeed."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file://{tmp_path}/mlruns"
    exporter = make_exporter(tracking_uri=uri, run_mode="window", window_seconds=3600, eval_dataset="prod-cases")
    with caplog.at_level(logging.WARNING):
        for i, (latency, fail, feedback) in enumerate(TRAFFIC):
            spans = _request(recorder, i, latency, fail, feedback)
            exporter.export(spans)
        exporter.shutdown()
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("llmops-rag").experiment_id])
    assert run.info.status == "FINISHED" and run.data.metrics["request_count"] == len(TRAFFIC)
    told = [r.getMessage() for r in caplog.records if "evaluation cases are not collected" in r.getMessage()]
    assert len(told) == 1 and "unset OTEL_MLFLOW_EVAL_DATASET" in told[0]
    assert exporter.stats.spans_dropped_write_failed == 0 and not any(
        "retried" in r.getMessage() for r in caplog.records
    )
