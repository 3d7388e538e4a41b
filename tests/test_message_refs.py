"""Messages a span only refers to (the GenAI upload hook's `gen_ai.input.messages_ref`): read where
OTEL_MLFLOW_MESSAGE_REFS allows, never outside it (no `..`, no link out), kept as links otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.export.pending.message_refs import allowed, resolve_message_refs
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from tests.helpers import SpanRecorder, Store

MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "REF-PLANTED what is RAG?"}]}]


def _span_with_refs(recorder: SpanRecorder, inputs: str, outputs: str) -> list[Any]:
    with recorder.tracer.start_as_current_span("chat m-1", kind=SpanKind.CLIENT) as chat:
        chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
        chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m-1")
        chat.set_attribute(A.GEN_AI_INPUT_MESSAGES_REF, inputs)
        chat.set_attribute(A.GEN_AI_OUTPUT_MESSAGES_REF, outputs)
    return recorder.take()


def test_allowed_refs_are_read_json_and_jsonl(recorder: SpanRecorder, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "in.json").write_text(json.dumps(MESSAGES) + "\n")
    answer = {"role": "assistant", "parts": [{"type": "text", "content": "grounded"}], "index": 0}
    (uploads / "out.jsonl").write_text(json.dumps(answer) + "\n" + json.dumps({**answer, "index": 1}) + "\n")
    spans = _span_with_refs(recorder, f"file://{uploads}/in.json", str(uploads / "out.jsonl"))
    resolved, read, unread = resolve_message_refs(spans, (str(uploads),), 1_000_000)
    assert (read, unread) == (2, 0)
    plan = plan_run(resolved, MappingOptions())
    assert plan.artifacts["prompt.txt"] == "user: REF-PLANTED what is RAG?"
    assert plan.artifacts["response.txt"] == "assistant: grounded\nassistant: grounded"
    assert plan.tags[A.GEN_AI_INPUT_MESSAGES_REF] == f"file://{uploads}/in.json"  # the link stays too


def test_refs_outside_the_allowed_prefixes_are_never_read(recorder: SpanRecorder, tmp_path: Path) -> None:
    uploads, secret = tmp_path / "uploads", tmp_path / "secret.json"
    uploads.mkdir()
    secret.write_text(json.dumps(MESSAGES))
    (uploads / "link.json").symlink_to(secret)
    for ref in (str(secret), f"{uploads}/../secret.json", str(uploads / "link.json"), f"file://{secret}"):
        assert not allowed(ref, (str(uploads),)), ref
        spans = _span_with_refs(recorder, ref, ref)
        assert resolve_message_refs(spans, (str(uploads),), 1_000_000)[1:] == (0, 2)
    assert resolve_message_refs(_span_with_refs(recorder, str(secret), str(secret)), (), 1_000_000)[1:] == (0, 2)
    assert allowed("s3://bucket/prompts/a.json", ("s3://bucket/prompts/",))
    assert not allowed("s3://bucket/prompts/../other/a.json", ("s3://bucket/prompts/",))
    assert not allowed("s3://bucket/other/a.json", ("s3://bucket/prompts/", "/var/genai"))


def test_a_missing_file_stays_a_link_on_the_run(
    recorder: SpanRecorder, store: Store, make_exporter: Any, tmp_path: Path
) -> None:
    exporter = make_exporter(message_refs=(str(tmp_path),))
    ref = f"file://{tmp_path}/gone_inputs.json"
    exporter.export(_span_with_refs(recorder, ref, ref))
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.tags[A.GEN_AI_INPUT_MESSAGES_REF] == ref
    assert "prompt.txt" not in store.artifact_paths(run)
    assert exporter.stats.message_refs_unread == 2 and exporter.stats.message_refs_read == 0
