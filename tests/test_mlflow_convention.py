"""MLflow's own tracing attributes read as a convention: an app traced with `@mlflow.trace` exports OTLP to
`otel-mlflow receive` and its runs carry the model (without JSON quotes), token counts, prompt and answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.mlflow import translate
from otel_mlflow.mapping.span_facts import span_facts
from tests.helpers import SpanRecorder, Store

APP = textwrap.dedent("""
    import mlflow
    from mlflow.entities import SpanType

    @mlflow.trace(span_type=SpanType.CHAT_MODEL)
    def chat(messages):
        span = mlflow.get_current_active_span()
        span.set_attribute("mlflow.chat.tokenUsage", {"input_tokens": 11, "output_tokens": 22, "total_tokens": 33})
        span.set_attribute("mlflow.llm.model", "gpt-4o-mini")
        return {"choices": [{"message": {"role": "assistant", "content": "Retrieval-augmented generation."}}]}

    @mlflow.trace
    def answer(question):
        return chat([{"role": "user", "content": question}])["choices"][0]["message"]["content"]

    for question in ("What is RAG?", "What is a span?"):
        answer(question)
    mlflow.flush_trace_async_logging() if hasattr(mlflow, "flush_trace_async_logging") else None
""")


def test_mlflow_attributes_become_our_conventions(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute(A.MLFLOW_SPAN_TYPE, '"CHAT_MODEL"')
        span.set_attribute(A.MLFLOW_LLM_MODEL, '"gpt-4o-mini"')
        span.set_attribute(A.MLFLOW_CHAT_USAGE, json.dumps({"input_tokens": 5, "output_tokens": 7, "total_tokens": 12}))
        span.set_attribute(A.MLFLOW_SPAN_INPUTS, json.dumps({"messages": [{"role": "user", "content": "Hi?"}]}))
        span.set_attribute(A.MLFLOW_SPAN_OUTPUTS, json.dumps({"choices": [{"message": {"content": "Hello."}}]}))
    with recorder.tracer.start_as_current_span("answer") as root:
        root.set_attribute(A.MLFLOW_SPAN_TYPE, '"UNKNOWN"')
        root.set_attribute(A.MLFLOW_SPAN_INPUTS, json.dumps({"question": "Why?", "k": 2}))
        root.set_attribute(A.MLFLOW_SPAN_OUTPUTS, json.dumps("Because."))
    chat, answer = (span_facts(s) for s in recorder.take())
    assert chat.is_llm and chat.model == "gpt-4o-mini"  # no JSON quotes
    assert (chat.input_tokens, chat.output_tokens, chat.total_tokens) == (5, 7, 12)
    assert chat.prompt == "user: Hi?" and chat.response == "Hello."
    assert not answer.is_llm and (answer.question, answer.answer) == ("Why?", "Because.")
    plain = {"gen_ai.request.model": '"quoted on purpose"'}
    assert translate(plain) is plain  # a span MLflow did not make is read as it is


def _run_app(receiver: Any, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'app.db'}",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{receiver.url}/v1/traces",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
        "MLFLOW_ENABLE_OTLP_EXPORTER": "true",
    }
    done = subprocess.run(
        [sys.executable, "-c", APP], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.subprocess
def test_an_app_traced_with_mlflow_exports_otlp_to_the_receiver(
    store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver(run_mode="trace")
    done = _run_app(receiver, tmp_path)
    assert receiver.stats["accepted_spans"] == 4, (receiver.stats, done.stderr[-2000:])
    assert receiver.exporter.force_flush(20_000)
    runs = store.runs()
    assert len(runs) == 2
    for run in runs:
        assert run.data.params["model"] == "gpt-4o-mini"
        assert run.data.metrics["gen_ai.usage.input_tokens"] == 11
        assert run.data.metrics["gen_ai.usage.output_tokens"] == 22
        assert store.artifact_text(run, "response.txt") == "Retrieval-augmented generation."
    assert sorted(r.info.run_name for r in runs) == ["answer: What is RAG?", "answer: What is a span?"]


@pytest.mark.subprocess
def test_with_capture_off_nothing_of_an_mlflow_apps_text_is_stored(
    store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    """The `@mlflow.trace` row of the interop matrix (tests/test_interop_matrix.py) with content capture off."""
    receiver = start_receiver(run_mode="trace", capture_content=False)
    _run_app(receiver, tmp_path)
    assert receiver.exporter.force_flush(20_000)
    assert len(store.runs()) == 2
    files = [*store.root.glob("mlflow.db*"), *(p for p in store.artifacts.rglob("*") if p.is_file())]
    for path in files:
        data = path.read_bytes()
        for text in ("What is RAG?", "What is a span?", "Retrieval-augmented generation."):
            assert text.encode() not in data, (text, path)
