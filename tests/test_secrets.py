"""Planted secrets never reach the store: the whole sqlite file and every artifact file are searched."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.config import ScrubSettings
from otel_mlflow.mapping.span_json import sanitized_span
from otel_mlflow.scrub import Scrubber
from tests.helpers import SpanRecorder, Store

OPENAI_KEY = "sk-proj-PLANTEDabcdefghijklmnopqrstuvwxyz0123"
BEARER = "PLANTEDbearertoken0123456789"
BASIC = "UExBTlRFRHVzZXI6cGFzc3dvcmQ="
API_KEY_HEADER = "PLANTED-api-key-header-value"
CUSTOM = "ACME-123456"  # matches the user's pattern ACME-\d{6}
PROMPT = "PLANTED prompt text that must not be stored when capture is off"
SECRETS = (OPENAI_KEY, BEARER, BASIC, API_KEY_HEADER, CUSTOM)


def plant(recorder: SpanRecorder) -> list[Any]:
    with recorder.tracer.start_as_current_span(f"POST /ask {CUSTOM}", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.header.authorization", f"Bearer {BEARER}")
        root.set_attribute("http.request.header.api-key", API_KEY_HEADER)
        root.set_attribute("http.request.header.x-debug", f"Basic {BASIC}")
        root.set_attribute(A.QUESTION, f"my key is {OPENAI_KEY}, order {CUSTOM}")
        root.set_attribute(A.PARAM_PREFIX + "api_key", OPENAI_KEY)
        root.set_attribute(A.METRIC_PREFIX + f"score {OPENAI_KEY}", 1.0)
        root.set_attribute(A.TAG_PREFIX + "note", f"token={BEARER} Bearer {BEARER}")
        with recorder.tracer.start_as_current_span("chat gpt-4") as chat:
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
            chat.set_attribute(A.GEN_AI_PROMPT, f"{PROMPT} {OPENAI_KEY}")
            chat.set_attribute(A.GEN_AI_COMPLETION, f"customer {CUSTOM}")
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 3)
            chat.add_event("exception", {"exception.message": f"401 for Bearer {BEARER}"})
            chat.set_status(Status(StatusCode.ERROR, f"auth failed with {OPENAI_KEY}"))
    return recorder.take()


def store_bytes(store: Store) -> bytes:
    """Everything the store holds: the database file(s) and every artifact."""
    data = b"".join(p.read_bytes() for p in store.root.glob("mlflow.db*"))
    return data + b"".join(p.read_bytes() for p in store.artifacts.rglob("*") if p.is_file())


@pytest.mark.parametrize("run_mode", ["trace", "window"])
def test_planted_secrets_are_nowhere_in_the_store(
    recorder: SpanRecorder, store: Store, make_exporter: Any, run_mode: str
) -> None:
    exporter = make_exporter(run_mode=run_mode, redact_patterns=(r"ACME-\d{6}",))
    exporter.export(plant(recorder))
    exporter.shutdown()
    assert len(store.runs()) == 1
    everything = store_bytes(store)
    assert b"[redacted]" in everything  # the text around the secrets was kept
    for secret in SECRETS:
        assert secret.encode() not in everything, secret
    assert PROMPT.encode() in everything or run_mode == "window"  # capture is on: the prompt itself is kept


def test_capture_off_keeps_no_prompt_or_response_anywhere(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(capture_content=False)
    exporter.export(plant(recorder))
    exporter.shutdown()
    [run] = store.runs()
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 3  # numbers still land
    everything = store_bytes(store)
    for text in (PROMPT, "customer", "my key is"):
        assert text.encode() not in everything, text


def test_spans_sent_to_mlflow_traces_are_cleaned_the_same_way(recorder: SpanRecorder) -> None:
    for span in plant(recorder):
        clean = sanitized_span(span, True, Scrubber(ScrubSettings(patterns=(r"ACME-\d{6}",))))
        text = repr((clean.name, dict(clean.attributes or {}), [(e.name, dict(e.attributes or {})) for e in clean.events]))
        for secret in SECRETS:
            assert secret not in text, secret
