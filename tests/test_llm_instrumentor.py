"""LLMServiceInstrumentor and the manual decorator/context manager, with real SDK spans."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from instrumentors.llm_service import LLMServiceInstrumentor
from otel_mlflow import attributes as A
from otel_mlflow.instrumentation.llm_span import llm_span, trace_llm
from tests.helpers import SpanRecorder

SERVICE = textwrap.dedent(
    """
    import asyncio

    class Usage:
        def __init__(self, prompt_tokens, completion_tokens):
            self.prompt_tokens = prompt_tokens
            self.completion_tokens = completion_tokens

    class Message:
        def __init__(self, content):
            self.content = content

    class Choice:
        def __init__(self, content):
            self.message = Message(content)
            self.finish_reason = "stop"

    class Completion:  # shaped like an OpenAI ChatCompletion
        def __init__(self, content):
            self.id = "chatcmpl-1"
            self.model = "gpt-4o-mini-2024"
            self.choices = [Choice(content)]
            self.usage = Usage(11, 22)

    def generate_answer(question, context, use_demo=False, temperature=0.2):
        return {"answer": f"A:{question}", "model": "demo-llm",
                "usage": {"prompt_tokens": 12, "completion_tokens": 34}}

    def plain_answer(question, context):
        return "just text " * 10

    def openai_style(question, context=""):
        return Completion("from openai")

    async def async_answer(question, context):
        await asyncio.sleep(0)
        return {"answer": "async", "usage": {"input_tokens": 1, "output_tokens": 2}}

    def stream_answer(question, context):
        for word in ("a", "b", "c"):
            yield word

    async def astream_answer(question, context):
        for word in ("x", "y"):
            yield word

    def slow_first_chunk(question, context):
        import time
        time.sleep(0.05)  # the model "thinks" before its first chunk
        yield "first"
        time.sleep(0.02)
        yield "second"

    def failing(question, context):
        raise KeyError("no model")

    class Weird:
        @property
        def usage(self):
            raise RuntimeError("bug in the result object")

    def weird_result(question, context):
        return Weird()

    class Service:
        def answer(self, question, context):
            return "method " + question
    """
)

FUNCTIONS = [
    "generate_answer",
    "plain_answer",
    "openai_style",
    "async_answer",
    "stream_answer",
    "astream_answer",
    "slow_first_chunk",
    "failing",
    "weird_result",
    "Service.answer",
]


@pytest.fixture
def service_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"svc_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(SERVICE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.fixture
def instrumented(service_name: str, recorder: SpanRecorder) -> Iterator[ModuleType]:
    """Instrument before the module is imported (the zero-code order), then import it."""
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(
        functions=[f"{service_name}:{f}" for f in FUNCTIONS], tracer_provider=recorder.provider, capture_content=True
    )
    try:
        yield importlib.import_module(service_name)
    finally:
        instrumentor.uninstrument()
        sys.modules.pop(service_name, None)


def only_span(recorder: SpanRecorder) -> Any:
    [span] = recorder.take()
    return span


def test_sync_call_has_genai_attributes(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    result = instrumented.generate_answer("What is RAG?", "RAG = retrieval + generation", temperature=0.7)
    assert result["answer"] == "A:What is RAG?"
    span = only_span(recorder)
    attrs = span.attributes
    assert span.name == "chat demo-llm"
    assert attrs[A.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[A.GEN_AI_REQUEST_MODEL] == "demo-llm"
    assert attrs[A.GEN_AI_REQUEST_TEMPERATURE] == 0.7
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12 and attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 34
    assert A.TOKENS_ESTIMATED not in attrs
    assert attrs[A.QUESTION] == "What is RAG?"
    assert attrs[A.CONTEXT] == "RAG = retrieval + generation"
    assert json.loads(attrs[A.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"] == "What is RAG?"
    assert json.loads(attrs[A.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "A:What is RAG?"


def test_usage_is_estimated_when_nothing_reports_it(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    instrumented.plain_answer("q" * 40, "c" * 40)
    attrs = only_span(recorder).attributes
    assert attrs[A.TOKENS_ESTIMATED] is True
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 20  # 80 chars / 4
    assert attrs[A.GEN_AI_USAGE_OUTPUT_TOKENS] == 25  # 100 chars / 4


def test_openai_style_result(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    instrumented.openai_style("hi")
    span = only_span(recorder)
    assert span.attributes[A.GEN_AI_USAGE_INPUT_TOKENS] == 11
    assert span.attributes[A.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024"
    assert span.attributes[A.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[A.ANSWER] == "from openai"


def test_async_call(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    assert asyncio.run(instrumented.async_answer("q", "c"))["answer"] == "async"
    attrs = only_span(recorder).attributes
    assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 1 and attrs[A.ANSWER] == "async"


def test_stream_span_ends_when_exhausted(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    stream = instrumented.stream_answer("q", "c")
    assert recorder.spans() == []  # nothing ends before the stream does
    assert list(stream) == ["a", "b", "c"]
    span = only_span(recorder)
    assert span.attributes[A.ANSWER] == "abc"
    assert span.attributes["gen_ai.request.stream"] is True


def test_a_stream_records_its_time_to_first_chunk(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    assert list(instrumented.slow_first_chunk("q", "c")) == ["first", "second"]
    span = only_span(recorder)
    first = span.attributes[A.GEN_AI_TIME_TO_FIRST_CHUNK]
    duration_s = (span.end_time - span.start_time) / 1e9
    assert 0.05 <= first < duration_s - 0.015  # after the model's pause, before the second chunk's
    instrumented.generate_answer("q", "c")  # a call that does not stream has none
    assert A.GEN_AI_TIME_TO_FIRST_CHUNK not in only_span(recorder).attributes


def test_stream_closed_early_ends_the_span(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    stream = instrumented.stream_answer("q", "c")
    assert next(stream) == "a"
    stream.close()
    span = only_span(recorder)
    assert span.attributes["otel_mlflow.stream.closed_early"] is True
    assert span.attributes[A.ANSWER] == "a"


def test_async_stream(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    async def consume() -> list[str]:
        return [chunk async for chunk in instrumented.astream_answer("q", "c")]

    assert asyncio.run(consume()) == ["x", "y"]
    attrs = only_span(recorder).attributes
    assert attrs[A.ANSWER] == "xy" and attrs[A.GEN_AI_TIME_TO_FIRST_CHUNK] >= 0


def test_exception_is_recorded_and_reraised_unchanged(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    with pytest.raises(KeyError, match="no model") as caught:
        instrumented.failing("q", "c")
    assert type(caught.value) is KeyError
    span = only_span(recorder)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert [e.name for e in span.events] == ["exception"]


def test_bug_in_our_extraction_never_breaks_the_call(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    result = instrumented.weird_result("q", "c")  # reading .usage raises inside our hook
    assert type(result).__name__ == "Weird"
    assert len(recorder.take()) == 1


def test_methods_can_be_targets(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    assert instrumented.Service().answer("q", "c") == "method q"
    assert only_span(recorder).attributes[A.QUESTION] == "q"


def test_uninstrument_restores_every_original(service_name: str, recorder: SpanRecorder) -> None:
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=[f"{service_name}:{f}" for f in FUNCTIONS], tracer_provider=recorder.provider)
    module = importlib.import_module(service_name)
    try:
        assert hasattr(module.generate_answer, "__wrapped__")
    finally:
        instrumentor.uninstrument()
    for name in ("generate_answer", "plain_answer", "async_answer", "stream_answer"):
        assert not hasattr(getattr(module, name), "__wrapped__"), name
    assert not hasattr(module.Service.answer, "__wrapped__")
    module.generate_answer("q", "c")
    assert recorder.spans() == []
    sys.modules.pop(service_name, None)


def test_module_imported_before_instrumenting_is_patched_too(service_name: str, recorder: SpanRecorder) -> None:
    module = importlib.import_module(service_name)
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=[f"{service_name}:generate_answer"], tracer_provider=recorder.provider)
    try:
        module.generate_answer("q", "c")
        assert len(recorder.take()) == 1
    finally:
        instrumentor.uninstrument()
        sys.modules.pop(service_name, None)


def test_bad_entries_warn_and_never_crash(
    service_name: str, recorder: SpanRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(
        functions=[
            "no-colon",
            f"{service_name}:missing_function",
            f"{service_name}:generate_answer",
            "never_imported_module_xyz:f",
        ],
        tracer_provider=recorder.provider,
    )
    try:
        module = importlib.import_module(service_name)
        module.generate_answer("q", "c")
        assert len(recorder.take()) == 1
    finally:
        instrumentor.uninstrument()
        sys.modules.pop(service_name, None)
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "'no-colon' is not a 'module:function' entry" in messages
    assert "has no missing_function" in messages


def test_env_var_names_the_targets(service_name: str, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_MLFLOW_LLM_FUNCTIONS", f"{service_name}:plain_answer")
    monkeypatch.setenv("OTEL_MLFLOW_LLM_MODEL", "gpt-4")
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(tracer_provider=recorder.provider)
    try:
        module = importlib.import_module(service_name)
        module.plain_answer("q", "c")
        module.generate_answer("q", "c")  # not listed: no span
        [span] = recorder.take()
        assert span.attributes[A.GEN_AI_REQUEST_MODEL] == "gpt-4"
    finally:
        instrumentor.uninstrument()
        sys.modules.pop(service_name, None)


def test_content_capture_off(service_name: str, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "false")
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=[f"{service_name}:generate_answer"], tracer_provider=recorder.provider)
    try:
        importlib.import_module(service_name).generate_answer("secret question", "secret context")
        attrs = recorder.take()[0].attributes
        assert "secret" not in json.dumps(dict(attrs))
        assert attrs[A.GEN_AI_USAGE_INPUT_TOKENS] == 12
    finally:
        instrumentor.uninstrument()
        sys.modules.pop(service_name, None)


def test_decorator_and_context_manager_match_the_instrumentor(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    @trace_llm(tracer_provider=recorder.provider)
    def generate_answer(question: str, context: str, temperature: float = 0.2) -> Any:
        return instrumented.generate_answer.__wrapped__(question, context)

    generate_answer("What is RAG?", "ctx", temperature=0.7)
    decorated = only_span(recorder)
    instrumented.generate_answer("What is RAG?", "ctx", temperature=0.7)
    patched = only_span(recorder)
    with llm_span(question="What is RAG?", context="ctx", temperature=0.7, tracer_provider=recorder.provider) as call:
        call.set_response(instrumented.generate_answer.__wrapped__("What is RAG?", "ctx"))
    manual = only_span(recorder)
    assert dict(decorated.attributes) == dict(patched.attributes) == dict(manual.attributes)
    assert decorated.name == patched.name == manual.name == "chat demo-llm"


def test_context_manager_records_errors(recorder: SpanRecorder) -> None:
    with pytest.raises(ValueError):
        with llm_span(question="q", model="m", tracer_provider=recorder.provider):
            raise ValueError("bad")
    span = only_span(recorder)
    assert span.status.status_code is StatusCode.ERROR
    assert len(span.events) == 1


def test_nested_client_spans_are_children(instrumented: ModuleType, recorder: SpanRecorder) -> None:
    tracer = recorder.tracer

    @trace_llm(model="m", tracer_provider=recorder.provider)
    def outer(question: str) -> str:
        with tracer.start_as_current_span("http-call"):
            return "x"

    outer("q")
    spans = {s.name: s for s in recorder.take()}
    assert spans["http-call"].parent.span_id == spans["chat m"].context.span_id
