"""FastAPI through a real ASGI client: the official server spans plus otel-mlflow's request capture."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.trace import SpanKind

from instrumentors.asgi_capture import RequestCaptureMiddleware
from instrumentors.fastapi import FastAPIRequestInstrumentor
from instrumentors.llm_service import LLMServiceInstrumentor
from otel_mlflow import attributes as A
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from tests.helpers import SpanRecorder, Store

RAG_APP = Path(__file__).resolve().parents[1] / "examples" / "rag_app"


@pytest.fixture
def rag_app(recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example app, its LLM service instrumented before import (the zero-code order)."""
    monkeypatch.syspath_prepend(str(RAG_APP))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("OTEL_MLFLOW_PARAM_FIELDS", "k")  # the example's own setting (demo, compose, README)
    llm = LLMServiceInstrumentor()
    llm.instrument(functions=["services.llm_service:generate_answer"], tracer_provider=recorder.provider)
    from api_gateway.main import app

    try:
        yield app
    finally:
        llm.uninstrument()
        for name in [m for m in sys.modules if m.split(".")[0] in ("api_gateway", "services")]:
            del sys.modules[name]


def post(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.post(path, **kwargs)

    return asyncio.run(call())


def server_spans(recorder: SpanRecorder) -> list[Any]:
    return [s for s in recorder.spans() if s.kind is SpanKind.SERVER]


def test_request_question_k_and_answer_are_on_the_server_span(rag_app: Any, recorder: SpanRecorder) -> None:
    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    response = post(rag_app, "/ask", json={"question": "What is RAG?", "k": 2})
    assert response.status_code == 200
    [server] = server_spans(recorder)
    assert server.attributes[A.QUESTION] == "What is RAG?"
    assert server.attributes[A.PARAM_PREFIX + "k"] == 2
    assert server.attributes[A.ANSWER] == response.json()["answer"]
    assert server.attributes["http.route"] == "/ask"
    chat = next(s for s in recorder.spans() if s.name == "chat demo-llm")
    assert chat.parent.span_id == server.context.span_id
    plan = plan_run(recorder.spans(), MappingOptions())
    assert plan.params["k"] == "2" and plan.params["model"] == "demo-llm"
    assert plan.artifacts["question.txt"] == "What is RAG?"
    assert plan.artifacts["answer.txt"] == response.json()["answer"]


def test_zero_code_and_manual_together_add_nothing_twice(rag_app: Any, recorder: SpanRecorder) -> None:
    instrumentor = FastAPIRequestInstrumentor()
    instrumentor.instrument()
    try:
        FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
        FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
        assert post(rag_app, "/ask", json={"question": "What is MLflow?", "k": 1}).status_code == 200
        assert sum(m.cls is RequestCaptureMiddleware for m in rag_app.user_middleware) == 1
        assert len(server_spans(recorder)) == 1
        assert len([s for s in recorder.spans() if s.name.startswith("chat")]) == 1
    finally:
        instrumentor.uninstrument()


def test_uninstrument_restores_fastapi(recorder: SpanRecorder) -> None:
    from fastapi import applications

    original = applications.FastAPI.build_middleware_stack
    instrumentor = FastAPIRequestInstrumentor()
    instrumentor.instrument()
    assert applications.FastAPI.build_middleware_stack is not original
    instrumentor.uninstrument()
    assert applications.FastAPI.build_middleware_stack is original


def test_non_json_and_oversized_bodies_pass_untouched(rag_app: Any, recorder: SpanRecorder) -> None:
    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    bad = post(rag_app, "/ask", content=b"question=hi", headers={"content-type": "text/plain"})
    assert bad.status_code == 422
    huge_question = "x" * 2_000_000
    big = post(rag_app, "/ask", json={"question": huge_question, "k": 1})
    assert big.status_code == 422  # the app's own validation (max_length) still sees the whole body
    for span in server_spans(recorder):
        assert A.QUESTION not in span.attributes


def test_failed_llm_call_gives_a_failed_run(
    rag_app: Any, recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    response = post(rag_app, "/ask", json={"question": "please fail", "k": 1})
    assert response.status_code == 502
    exporter = make_exporter()
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.info.status == "FAILED"
    assert run.data.tags["http.response.status_code"] == "502"
    assert run.data.metrics["error_count"] == 2  # the server span and the LLM call


def test_no_request_field_is_a_param_unless_named(
    rag_app: Any, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The library's default names no param field: ``k`` belongs to the example, which sets it itself."""
    monkeypatch.delenv("OTEL_MLFLOW_PARAM_FIELDS")
    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    assert post(rag_app, "/ask", json={"question": "What is RAG?", "k": 2}).status_code == 200
    [server] = server_spans(recorder)
    assert server.attributes[A.QUESTION] == "What is RAG?"
    assert not [key for key in server.attributes if key.startswith(A.PARAM_PREFIX)]


def test_uninstrument_app_undoes_instrument_app_even_under_the_class_wide_patch(
    rag_app: Any, recorder: SpanRecorder
) -> None:
    everywhere = FastAPIRequestInstrumentor()
    everywhere.instrument()  # as opentelemetry-instrument does: every app gets the capture middleware
    try:
        FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
        assert post(rag_app, "/ask", json={"question": "What is RAG?", "k": 2}).status_code == 200
        assert len(server_spans(recorder)) == 1
        FastAPIRequestInstrumentor.uninstrument_app(rag_app)
        assert post(rag_app, "/ask", json={"question": "What is RAG?", "k": 2}).status_code == 200
        assert len(server_spans(recorder)) == 1  # no new server span
        assert not any(m.cls is RequestCaptureMiddleware for m in rag_app.user_middleware)
        FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)  # and back again
        assert post(rag_app, "/ask", json={"question": "What is MLflow?", "k": 1}).status_code == 200
        [_, again] = server_spans(recorder)
        assert again.attributes[A.QUESTION] == "What is MLflow?"
    finally:
        everywhere.uninstrument()


def test_health_checks_make_no_spans_unless_the_user_says_otherwise(
    rag_app: Any, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def get(path: str) -> int:
        transport = httpx.ASGITransport(app=rag_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return (await client.get(path)).status_code

    monkeypatch.delenv("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", raising=False)
    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    try:
        assert asyncio.run(get("/health")) == 200
        assert server_spans(recorder) == []  # a probe makes no span, hence no run
        assert post(rag_app, "/ask", json={"question": "q?", "k": 1}).status_code == 200
        assert len(server_spans(recorder)) == 1
    finally:
        FastAPIRequestInstrumentor.uninstrument_app(rag_app)


def test_session_and_user_from_headers_or_body_reach_the_run_the_table_and_the_trace(
    rag_app: Any, recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    from otel_mlflow.config import CaptureOptions, ConfigError

    FastAPIRequestInstrumentor.instrument_app(rag_app, tracer_provider=recorder.provider)
    try:
        post(
            rag_app,
            "/ask",
            json={"question": "q1?", "k": 1, "user_id": "body-user"},
            headers={"x-session-id": "s-1", "X-User-Id": "header-user"},
        )  # the header comes first in the list
        post(rag_app, "/ask", json={"question": "q2?", "k": 1, "session_id": "s-2", "user_id": 7})
        post(rag_app, "/ask", json={"question": "q3?", "k": 1})
    finally:
        FastAPIRequestInstrumentor.uninstrument_app(rag_app)
    identities = [(s.attributes.get(A.SESSION_ID), s.attributes.get(A.USER_ID)) for s in server_spans(recorder)]
    assert identities == [("s-1", "header-user"), ("s-2", "7"), (None, None)]
    exporter = make_exporter(run_mode="window")
    exporter.export(recorder.take())
    exporter.shutdown()  # closes the window: its table is written
    [window] = store.runs()
    table = json.loads(store.artifact_text(window, "predictions.json"))
    session, user = table["columns"].index("session"), table["columns"].index("user")
    assert [(row[session], row[user]) for row in table["data"]] == [("s-1", "header-user"), ("s-2", "7"), (None, None)]
    traces = store.client().search_traces(locations=[window.info.experiment_id])
    assert {t.info.trace_metadata.get("mlflow.trace.session") for t in traces} == {"s-1", "s-2", None}
    with pytest.raises(ConfigError, match="OTEL_MLFLOW_SESSION_FROM: 'cookie:sid'"):
        CaptureOptions(session_from=("cookie:sid",))


@pytest.mark.parametrize("capture_content", [False, True])
def test_capture_reads_only_what_it_records(recorder: SpanRecorder, capture_content: bool) -> None:
    """With content capture off and no body field named, the app gets the server's own ``receive`` and ``send``
    (no body is copied or parsed); with capture on, the same request's question and answer are recorded."""
    from otel_mlflow.config import CaptureOptions

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["receive"], seen["send"] = receive, send
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"answer": "a1"}'})

    options = CaptureOptions(capture_content=capture_content, session_from=("header:x-session-id",), user_from=())
    middleware = RequestCaptureMiddleware(app, options)
    body = [{"type": "http.request", "body": b'{"question": "q1?"}'}]

    async def receive() -> dict[str, Any]:
        return body.pop()

    async def send(message: Any) -> None:
        pass

    scope = {"type": "http", "headers": [(b"content-type", b"application/json"), (b"x-session-id", b"s-9")]}
    with recorder.provider.get_tracer("t").start_as_current_span("server", kind=SpanKind.SERVER):
        asyncio.run(middleware(scope, receive, send))
    [span] = recorder.spans()
    assert span.attributes.get(A.SESSION_ID) == "s-9"
    if capture_content:
        assert (seen["receive"], seen["send"]) != (receive, send)
        assert (span.attributes.get(A.QUESTION), span.attributes.get(A.ANSWER)) == ("q1?", "a1")
    else:
        assert (seen["receive"], seen["send"]) == (receive, send)
        assert A.QUESTION not in span.attributes and A.ANSWER not in span.attributes
