"""Spans of the official OTel GenAI OpenAI instrumentation, made by the real `openai` client against a
local server that answers like the chat-completions API, are mapped like our own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from tests.fake_openai import ANSWER
from tests.helpers import SpanRecorder, Store

openai = pytest.importorskip("openai", reason="the dev extra installs openai")
genai_openai = pytest.importorskip(
    "opentelemetry.instrumentation.genai.openai", reason="the dev extra installs the GenAI OpenAI instrumentation"
)

API_KEY = "sk-test-abcdefghijklmnopqrstuvwxyz012345"


@pytest.fixture
def instrumented_openai(recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    instrumentor = genai_openai.OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=recorder.provider)
    try:
        yield
    finally:
        instrumentor.uninstrument()


def test_official_openai_spans_map_to_a_run(
    chat_server: str, instrumented_openai: None, recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    client = openai.OpenAI(base_url=f"{chat_server}/v1", api_key=API_KEY, max_retries=0)
    with recorder.tracer.start_as_current_span("answer-question"):
        client.chat.completions.create(
            model="gpt-4o-mini",
            temperature=0.3,
            messages=[{"role": "user", "content": "What is RAG?"}],
        )
    client.close()
    spans = recorder.take()
    chat = next(s for s in spans if s.name != "answer-question")
    assert chat.attributes["gen_ai.request.model"] == "gpt-4o-mini"

    plan = plan_run(spans, MappingOptions())
    assert plan.params["model"] == "gpt-4o-mini"
    assert plan.params["provider"] == "openai"
    assert plan.params["temperature"] == "0.3"
    assert [m.value for m in plan.metrics if m.key == "gen_ai.usage.input_tokens"] == [19]
    assert [m.value for m in plan.metrics if m.key == "gen_ai.usage.output_tokens"] == [7]
    assert plan.tags["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert "What is RAG?" in plan.artifacts["prompt.txt"]
    assert plan.artifacts["response.txt"] == f"assistant: {ANSWER}"

    exporter = make_exporter()
    exporter.export(spans)
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["tokens.total"] == 26
    stored = json.dumps([run.data.params, run.data.tags]) + store.artifact_text(run, "spans.json")
    assert API_KEY not in stored
