"""Runs' spans stored as MLflow traces linked to their run, in an embedded sqlite store (MLflow's GenAI views:
Overview, Traces with Input/Output, Sessions). The server path is in tests/test_server.py."""

from __future__ import annotations

import inspect
import json
import logging
import os
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.config import Config, ScrubSettings
from otel_mlflow.export.mlflow.traces import MLflowTraces
from otel_mlflow.mapping.mlflow_trace import mlflow_trace_spans
from otel_mlflow.scrub import Scrubber
from tests.helpers import SpanRecorder, Store
from tests.test_mapping import rag_trace

SCRUB = Scrubber(ScrubSettings())


def served_request(
    recorder: SpanRecorder, question: str = "What is RAG?", answer: str = "Retrieval.", session: str | None = None
) -> None:
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, question)
        root.set_attribute(A.ANSWER, answer)
        root.set_attribute("http.route", "/ask")
        if session:
            root.set_attribute("session.id", session)
            root.set_attribute("user.id", "user-7")
        with recorder.tracer.start_as_current_span("chat gpt-4", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 12)
            chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 34)


def traces_of(store: Store, run: Any) -> list[Any]:
    return list(store.client().search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id))


def test_mlflow_calls_we_depend_on_still_exist() -> None:
    """The calls of otel_mlflow/export/mlflow/traces.py; when this fails, MLflow changed them: update that module."""
    from mlflow import MlflowClient
    from mlflow.entities.span import Span
    from mlflow.tracing.client import TracingClient

    assert "location_id" in inspect.signature(Span.from_otel_proto).parameters
    assert "resource" in inspect.signature(Span.from_otel_proto).parameters
    assert list(inspect.signature(TracingClient.log_spans).parameters)[1:3] == ["location", "spans"]
    assert list(inspect.signature(MlflowClient.link_traces_to_run).parameters)[1:3] == ["trace_ids", "run_id"]


def test_a_trace_run_has_its_mlflow_trace_with_input_output_tokens_and_session(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter()
    served_request(recorder, session="session-42")
    spans = recorder.take()
    exporter.export(spans)
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    [trace] = traces_of(store, run)
    info = trace.info
    assert json.loads(info.request_preview) == {"question": "What is RAG?"}
    assert json.loads(info.response_preview) == "Retrieval."
    assert info.token_usage == {"input_tokens": 12, "output_tokens": 34, "total_tokens": 46}
    assert info.trace_metadata["mlflow.trace.session"] == "session-42"
    assert info.trace_metadata["mlflow.trace.user"] == "user-7"
    assert str(info.state) in ("OK", "TraceState.OK")
    assert format(spans[0].context.trace_id, "032x") in info.trace_id
    assert {s.name for s in trace.data.spans} == {"POST /ask", "chat gpt-4"}


def test_a_window_run_links_one_trace_per_request(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter(run_mode="window")
    for i in range(3):
        served_request(recorder, question=f"question {i}")
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    traces = traces_of(store, run)
    assert sorted(json.loads(t.info.request_preview)["question"] for t in traces) == [f"question {i}" for i in range(3)]


def test_writing_the_same_spans_again_leaves_one_trace(recorder: SpanRecorder, store: Store) -> None:
    """A replay after a crash may write a trace twice: MLflow keeps one."""
    served_request(recorder)
    spans = mlflow_trace_spans(recorder.take(), True, SCRUB)
    client = store.client()
    experiment = client.create_experiment("replayed")
    run = client.create_run(experiment)
    traces = MLflowTraces(store.uri)
    first, second = (traces.log(client, experiment, run.info.run_id, spans) for _ in range(2))
    assert first == second and len(first) == 1
    assert len(client.search_traces(locations=[experiment])) == 1


def test_without_content_capture_the_trace_has_no_text(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(capture_content=False)
    served_request(recorder, question="private question", answer="private answer")
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    [trace] = traces_of(store, run)
    text = json.dumps([s.to_dict() for s in trace.data.spans]) + str(trace.info.request_preview)
    assert "private" not in text
    assert trace.info.token_usage["total_tokens"] == 46  # numbers still shown


def test_linking_off_writes_runs_only(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter(link_traces=False)
    served_request(recorder)
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert store.client().search_traces(locations=[run.info.experiment_id]) == []


def test_a_store_that_cannot_hold_traces_is_told_once_and_runs_are_still_written(
    recorder: SpanRecorder, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    from otel_mlflow import MLflowSpanExporter

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file://{tmp_path / 'mlruns'}"
    caplog.set_level(logging.WARNING)
    exporter = MLflowSpanExporter(
        config=Config.from_env(env={}, tracking_uri=uri, run_mode="trace", flush_interval=0.05, spool="off")
    )
    try:
        for _ in range(3):
            served_request(recorder)
        exporter.export(recorder.take())
        assert exporter.force_flush(20_000)
    finally:
        exporter.shutdown()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("llmops-rag")
    assert len(client.search_runs([experiment.experiment_id])) == 3
    warnings = [r for r in caplog.records if "without MLflow traces" in r.getMessage()]
    assert len(warnings) == 1 and "sqlite:///mlflow.db" in warnings[0].getMessage()


def test_the_root_shows_the_question_else_the_first_prompt_and_keeps_its_own(recorder: SpanRecorder) -> None:
    served_request(recorder, question="Q? api_key=sk-proj-abcdefghijklmnopqrstuvwx", answer="A.")
    rag_trace(recorder)  # no question: the LLM call's prompt and response
    with recorder.tracer.start_as_current_span("agent") as own:  # traced with @mlflow.trace: its own kept
        own.set_attribute(A.MLFLOW_SPAN_INPUTS, json.dumps({"x": 1}))
        own.set_attribute(A.QUESTION, "ignored")
    copies = mlflow_trace_spans(recorder.take(), True, SCRUB)
    served, rag, agent = [dict(s.attributes or {}) for s in copies if s.parent is None]  # in the order made
    asked = json.loads(served[A.MLFLOW_SPAN_INPUTS])["question"]
    assert asked.startswith("Q? api_key=") and "abcdefghijklmnop" not in asked  # scrubbed
    assert json.loads(served[A.MLFLOW_SPAN_OUTPUTS]) == "A."
    assert json.loads(rag[A.MLFLOW_SPAN_INPUTS]) == {"prompt": "user: What is RAG?"}
    assert json.loads(rag[A.MLFLOW_SPAN_OUTPUTS]) == "assistant: Retrieval."
    assert json.loads(agent[A.MLFLOW_SPAN_INPUTS]) == {"x": 1}
    assert not any(A.MLFLOW_SPAN_INPUTS in (s.attributes or {}) for s in copies if s.parent is not None)
    assert all(A.MLFLOW_SPAN_INPUTS not in (s.attributes or {}) for s in mlflow_trace_spans(copies, False, SCRUB))


def test_an_experiment_we_create_opens_on_mlflow_genai_views(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(experiment_name="fresh-experiment")
    served_request(recorder)
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    experiment = store.client().get_experiment_by_name("fresh-experiment")
    assert experiment.tags["mlflow.experimentKind"] == "genai_development"
    view = json.loads(experiment.tags["mlflow.sharedViewState.otel-mlflow"])  # the runs table's columns
    assert {"params.`model`", "metrics.`request_count`", "metrics.`latency_ms.p95`"} <= set(view["selectedColumns"])


def test_the_runs_view_fits_an_experiment_tag_whatever_the_param_fields(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    """600 request fields named as params (OTEL_MLFLOW_PARAM_FIELDS) would make a view MLflow refuses (and with it
    the experiment): the view keeps the columns that fit; a name MLflow could not take as a param is left out."""
    fields = [f"field_{i:03d}_{'x' * 40}" for i in range(600)]
    named = Config.from_env(env={"OTEL_MLFLOW_PARAM_FIELDS": ",".join(["k", "bad name?", *fields])}).param_fields
    assert named[:2] == ("k", "bad name?") and len(named) == 602
    exporter = make_exporter(experiment_name="many-fields", param_fields=named)
    served_request(recorder)
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    experiment = store.client().get_experiment_by_name("many-fields")
    view = experiment.tags["mlflow.sharedViewState.otel-mlflow"]
    columns = json.loads(view)["selectedColumns"]
    assert len(view) <= 5000 and columns[:2] == ["params.`model`", "params.`k`"]
    assert "params.`bad name?`" not in columns and "metrics.`request_count`" in columns
    assert 10 < sum(c.startswith("params.`field_") for c in columns) < 600
    assert store.runs("many-fields")  # the experiment was made and written to


@pytest.mark.server
def test_requests_filed_before_an_exit_get_their_traces_linked_by_the_next_start(
    recorder: SpanRecorder, make_exporter: Any, tmp_path: Any
) -> None:
    """A window record holds its spans in the spool until its run has linked its trace: an exit before that (MLflow
    down, SIGTERM's budget spent) leaves both, and the next start on that spool links every trace, once. (Found by
    the stack test: 38 of 240 traces were never linked when a receiver's exit left records behind.) The store is an
    MLflow server that is down, then up on the same address: a spool replays into the store it was written for."""
    import subprocess

    from mlflow import MlflowClient

    from otel_mlflow.export.mlflow.server import healthy
    from otel_mlflow.testing import free_port, mlflow_server_command
    from tests.helpers import spooled_span_count, wait_for

    spool, port, root = str(tmp_path / "spool"), free_port(), tmp_path / "server"
    url = f"http://127.0.0.1:{port}"
    first = make_exporter(tracking_uri=url, spool_dir=spool, run_mode="window", exit_timeout=1.0, retry_timeout=1.0)
    for i in range(3):
        served_request(recorder, question=f"question {i}")
    first.export(recorder.take())
    first.force_flush(1_000)  # files the requests in their window (no grace period while flushing); MLflow is down
    first.shutdown()
    assert spooled_span_count(spool) == 6  # held by the 3 records, never replayed as requests of their own
    root.mkdir()
    server = subprocess.Popen(mlflow_server_command(root, port, root / "artifacts"), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, cwd=root)  # fmt: skip
    try:
        assert wait_for(lambda: healthy(url, 1.0), 60)  # MLflow is back
        second = make_exporter(tracking_uri=url, spool_dir=spool, run_mode="window", artifact_location=None)
        assert wait_for(lambda: second.stats.spool_files_taken_over == 1, 20)
        assert second.force_flush(60_000)
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("llmops-rag")
        [run] = client.search_runs([experiment.experiment_id])
        assert run.data.metrics["request_count"] == 3  # once each
        traces = client.search_traces(locations=[experiment.experiment_id], run_id=run.info.run_id)
        questions = sorted(json.loads(t.info.request_preview)["question"] for t in traces)
        assert questions == [f"question {i}" for i in range(3)]
        second.shutdown()
        assert spooled_span_count(spool) == 0
    finally:
        server.terminate()
        server.wait(30)


def test_many_traces_go_in_chunks_and_a_retry_resumes_after_the_last_chunk_stored(
    recorder: SpanRecorder, store: Store
) -> None:
    """A window's sync can carry hundreds of traces: they are stored TRACES_PER_CALL a call (one huge call
    outlasts the server's timeout and is retried whole for ever); a retry skips the chunks that landed."""
    from otel_mlflow.export.mlflow.traces import TRACES_PER_CALL, trace_chunks

    for i in range(2 * TRACES_PER_CALL + 7):
        served_request(recorder, question=f"q{i}?")
    spans = mlflow_trace_spans(recorder.take(), True, SCRUB)
    chunks = trace_chunks(spans, TRACES_PER_CALL)
    assert [len({s.context.trace_id for s in c}) for c in chunks] == [TRACES_PER_CALL, TRACES_PER_CALL, 7]
    assert [s.context.trace_id for c in chunks for s in c] == [s.context.trace_id for s in spans]  # order kept
    client = store.client()
    experiment = client.create_experiment("chunked")
    run = client.create_run(experiment)
    told: list[int] = []
    stored = MLflowTraces(store.uri).log(client, experiment, run.info.run_id, spans, done=1, on_chunk=told.append)
    assert told == [2, 3] and len(stored) == TRACES_PER_CALL + 7  # the first chunk counted as landed: skipped
    assert len(client.search_traces(locations=[experiment], run_id=run.info.run_id, max_results=500)) == len(stored)


LOOKED_UP: list[str] = []
"""Host names this test process resolved while :data:`_WATCHING` (an audit hook cannot be removed: it checks a flag)."""
_WATCHING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _WATCHING and event == "socket.getaddrinfo":
        LOOKED_UP.append(str(args[0]))


def test_storing_an_llm_trace_downloads_no_model_catalog(
    recorder: SpanRecorder, store: Store, make_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MLflow prices a stored trace's LLM spans from its model catalog, downloaded from GitHub unless
    MLFLOW_MODEL_CATALOG_URI says otherwise: ~14 s of retries without internet. Unset, we set it empty."""
    import sys

    monkeypatch.delenv("MLFLOW_MODEL_CATALOG_URI", raising=False)
    sys.addaudithook(_audit)
    exporter = make_exporter()
    assert os.environ["MLFLOW_MODEL_CATALOG_URI"] == ""
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        with recorder.tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute(A.GEN_AI_PROVIDER_NAME, "openai")
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o-mini")
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 1000)
            chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 1000)
    _WATCHING.append(True)
    try:
        exporter.export(recorder.take())
        assert exporter.force_flush(20_000)
    finally:
        _WATCHING.clear()
    [run] = store.runs()
    [trace] = traces_of(store, run)
    assert [h for h in LOOKED_UP if h not in ("127.0.0.1", "localhost", "::1")] == []
    assert run.data.metrics["cost_usd"] > 0  # priced all the same, from the bundled catalog


def test_a_catalog_the_user_names_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_MODEL_CATALOG_URI", "file:///srv/mirror/model-catalog")
    MLflowTraces("sqlite:///unused.db")
    assert os.environ["MLFLOW_MODEL_CATALOG_URI"] == "file:///srv/mirror/model-catalog"


def test_retrieved_documents_are_a_retriever_span_mlflows_rag_judges_read(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    """The context an LLM call was given (our instrumentors' `generate_answer(question, context)`) and an
    OpenInference RETRIEVER span both reach MLflow as RETRIEVER spans with documents, read back through MLflow's own
    `extract_retrieval_context_from_trace` (what its RetrievalGroundedness and RetrievalRelevance judges use)."""
    from mlflow.genai.utils.trace_utils import extract_retrieval_context_from_trace

    exporter = make_exporter()
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, "What is RAG?")
        with recorder.tracer.start_as_current_span("vector search") as search:
            search.set_attribute(A.OI_SPAN_KIND, "RETRIEVER")
            search.set_attribute("retrieval.documents.0.document.content", "RAG retrieves documents.")
            search.set_attribute("retrieval.documents.1.document.content", "Then it generates.")
        with recorder.tracer.start_as_current_span("generate_answer", kind=SpanKind.CLIENT) as call:
            call.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o-mini")
            call.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 10)
            call.set_attribute(A.CONTEXT, ["Doc one about RAG.", "Doc two about retrieval."])
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    [trace] = traces_of(store, run)
    retrieved = sorted(
        [c["content"] for c in chunks] for chunks in extract_retrieval_context_from_trace(trace).values()
    )
    assert retrieved == [
        ["Doc one about RAG.", "Doc two about retrieval."],
        ["RAG retrieves documents.", "Then it generates."],
    ]
