"""Every convention of `otel_mlflow.mapping.conventions` read from spans shaped as its SDK sends them (attribute
keys and value shapes copied from real captures where we ran the SDK: Vercel AI 6.0, Logfire 5.4, OpenLIT 1.45,
OpenInference 0.1.66, Traceloop 0.62), and content capture off as deny by default, for keys nobody declared too.
The real SDKs, end to end, are in tests/test_interop_matrix.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from otel_mlflow.mapping import conventions
from otel_mlflow.mapping.mlflow_trace import mlflow_trace_spans
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.scrub import Scrubber
from tests.helpers import SpanRecorder

QUESTION = "QUESTION-PLANTED what does retrieval augmented generation add to a model's answers?"
ANSWER = "ANSWER-PLANTED it grounds the model's answers in documents retrieved for the question asked."
MESSAGES_IN = json.dumps([{"role": "user", "content": QUESTION}])
GENAI_IN = json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}])
GEMINI_IN = json.dumps({"model": "m-1", "contents": [{"role": "user", "parts": [{"text": QUESTION}]}]})
GEMINI_OUT = json.dumps(
    {
        "content": {"role": "model", "parts": [{"text": ANSWER}]},
        "usage_metadata": {"prompt_token_count": 11, "candidates_token_count": 5},
    }
)
LOGFIRE_TEMPLATE = "Chat Completion with {request_data[model]!r}"
GENAI_OUT = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}])

# one LLM span per convention: (name, attributes, events); each says model m-1, 11 tokens in and 5 out
CASES: dict[str, tuple[str, dict[str, Any], list[tuple[str, dict[str, Any]]]]] = {
    "genai": ("chat m-1", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m-1",
              "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 5,
              "gen_ai.input.messages": GENAI_IN, "gen_ai.output.messages": GENAI_OUT}, []),
    "genai_events": ("chat m-1", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m-1",
                     "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 5},
                     [("gen_ai.content.prompt", {"gen_ai.prompt": QUESTION}),
                      ("gen_ai.content.completion", {"gen_ai.completion": ANSWER})]),
    "openinference": ("ChatCompletion", {"openinference.span.kind": "LLM", "llm.model_name": "m-1",
                      "llm.token_count.prompt": 11, "llm.token_count.completion": 5,
                      "llm.input_messages.0.message.role": "user", "llm.input_messages.0.message.content": QUESTION,
                      "llm.output_messages.0.message.role": "assistant",
                      "llm.output_messages.0.message.content": ANSWER}, []),
    "traceloop": ("openai.chat", {"llm.request.type": "chat", "gen_ai.request.model": "m-1",
                  "gen_ai.usage.prompt_tokens": 11, "gen_ai.usage.completion_tokens": 5,
                  "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": QUESTION,
                  "gen_ai.completion.0.role": "assistant", "gen_ai.completion.0.content": ANSWER}, []),
    "vercel_ai": ("ai.generateText.doGenerate", {"ai.operationId": "ai.generateText.doGenerate",
                  "ai.model.id": "m-1", "ai.model.provider": "openai.chat", "ai.usage.inputTokens": 11,
                  "ai.usage.outputTokens": 5, "ai.response.finishReason": "stop",
                  "ai.prompt.messages": json.dumps([{"role": "user", "content": [{"type": "text", "text": QUESTION}]}]),
                  "ai.response.text": ANSWER}, []),
    "logfire_old": (LOGFIRE_TEMPLATE, {"logfire.msg_template": LOGFIRE_TEMPLATE,
                    "logfire.msg": "Chat Completion with 'm-1'", "logfire.tags": ("LLM",),
                    "request_data": json.dumps({"model": "m-1", "messages": [{"role": "user", "content": QUESTION}]}),
                    "response_data": json.dumps({"message": {"role": "assistant", "content": ANSWER},
                                                 "usage": {"prompt_tokens": 11, "completion_tokens": 5}})}, []),
    "langfuse": ("generation", {"langfuse.observation.type": "generation", "langfuse.observation.model.name": "m-1",
                 "langfuse.observation.usage_details": json.dumps({"input": 11, "output": 5}),
                 "langfuse.observation.input": MESSAGES_IN, "langfuse.observation.output": json.dumps(ANSWER)}, []),
    "laminar": ("llm", {"lmnr.span.type": "LLM", "gen_ai.request.model": "m-1", "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 5, "lmnr.span.input": MESSAGES_IN,
                "lmnr.span.output": json.dumps(ANSWER)}, []),
    "google_adk": ("call_llm", {"gen_ai.system": "gcp.vertex.agent", "gen_ai.request.model": "m-1",
                   "gcp.vertex.agent.llm_request": GEMINI_IN, "gcp.vertex.agent.llm_response": GEMINI_OUT}, []),
    "voltagent": ("llm:generateText", {"voltagent.operation_id": "op-1", "span.type": "llm", "llm.model": "m-1",
                  "usage.prompt_tokens": 11, "usage.completion_tokens": 5, "llm.messages": MESSAGES_IN,
                  "output": ANSWER}, []),
    "livekit": ("llm_node", {"gen_ai.request.model": "m-1", "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 5, "lk.chat_ctx": MESSAGES_IN, "lk.response.text": ANSWER}, []),
    "claude_code": ("claude_code.llm_request", {"span.type": "claude_code.llm_request", "model": "m-1",
                    "input_tokens": 11, "output_tokens": 5, "cache_read_tokens": 2, "new_context": QUESTION,
                    "response.model_output": ANSWER}, []),
    "gemini_cli": ("llm_call", {"gen_ai.agent.name": "gemini-cli", "gen_ai.operation.name": "llm_call",
                   "gen_ai.request.model": "m-1", "gen_ai.usage.input_tokens": 11, "gen_ai.usage.output_tokens": 5,
                   "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"text": QUESTION}]}]),
                   "gen_ai.output.messages": json.dumps([{"role": "model", "parts": [{"text": ANSWER}]}])}, []),
    "mlflow": ("ChatCompletion", {"mlflow.spanType": json.dumps("CHAT_MODEL"), "mlflow.llm.model": json.dumps("m-1"),
               "mlflow.chat.tokenUsage": json.dumps({"input_tokens": 11, "output_tokens": 5}),
               "mlflow.spanInputs": json.dumps({"messages": [{"role": "user", "content": QUESTION}]}),
               "mlflow.spanOutputs": json.dumps(ANSWER)}, []),
}  # fmt: skip


def _record(recorder: SpanRecorder, case: str) -> list[Any]:
    name, attrs, events = CASES[case]
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        with recorder.tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attrs) as span:
            for event, event_attrs in events:
                span.add_event(event, event_attrs)
    return recorder.take()


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_convention_gives_model_tokens_prompt_and_answer(recorder: SpanRecorder, case: str) -> None:
    plan = plan_run(_record(recorder, case), MappingOptions())
    assert plan.params["model"] == "m-1"
    metrics = {m.key: m.value for m in plan.metrics}
    assert (metrics["gen_ai.usage.input_tokens"], metrics["gen_ai.usage.output_tokens"]) == (11, 5)
    assert metrics["llm_calls"] == 1
    assert QUESTION in plan.artifacts["prompt.txt"]
    assert ANSWER in plan.artifacts["response.txt"]
    assert QUESTION[:20] in (plan.run_name or "")  # the run is named with what was asked


@pytest.mark.parametrize("case", sorted(CASES))
def test_with_capture_off_no_convention_lets_its_text_through(recorder: SpanRecorder, case: str) -> None:
    spans = _record(recorder, case)
    options = MappingOptions(capture_content=False)
    plan = plan_run(spans, options)
    copies = mlflow_trace_spans(spans, capture_content=False, scrub=Scrubber())
    stored = json.dumps([plan.run_name, plan.params, plan.tags, plan.artifacts])
    stored += json.dumps([[dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events]] for s in copies])
    for planted in ("QUESTION-PLANTED", "ANSWER-PLANTED"):
        assert planted not in stored, case
    assert {m.key: m.value for m in plan.metrics}["gen_ai.usage.input_tokens"] == 11  # the numbers stay


def test_keys_nobody_declared_lose_long_strings_and_keep_numbers_names_and_ids(recorder: SpanRecorder) -> None:
    secret_text = "UNKNOWN-PLANTED a prompt in a key no convention declares, long enough to be content"
    attrs = {
        "acme.llm.prompt_text": secret_text,
        "acme.llm.history": (secret_text, "short"),
        "acme.llm.request_id": "req-7f3a",
        "acme.llm.latency_ms": 812.5,
        "acme.llm.cached": True,
        "gen_ai.request.model": "m-1",
        "code.filepath": "/srv/app/very/long/path/to/a/module/that/has/a/name/longer/than/the/bound.py",
    }
    with recorder.tracer.start_as_current_span("acme.chat", attributes=attrs):
        pass
    [span] = json.loads(plan_run(recorder.take(), MappingOptions(capture_content=False)).artifacts["spans.json"])
    assert "UNKNOWN-PLANTED" not in json.dumps(span)
    kept = span["attributes"]
    assert kept["acme.llm.request_id"] == "req-7f3a" and kept["acme.llm.latency_ms"] == 812.5
    assert kept["acme.llm.cached"] is True and kept["code.filepath"].endswith("bound.py")
    assert "acme.llm.prompt_text" not in kept and "acme.llm.history" not in kept
    assert conventions.keep_without_content("acme.x", "a" * conventions.SHORT_TEXT_CHARS)
    assert not conventions.keep_without_content("acme.x", "a" * (conventions.SHORT_TEXT_CHARS + 1))


def test_a_wrapping_sdk_span_is_the_question_not_a_second_model_call(recorder: SpanRecorder) -> None:
    """Vercel AI's `ai.generateText` wraps the provider call `doGenerate` and repeats its tokens: counted once; its
    `ai.prompt` names the run."""
    outer = {
        "ai.operationId": "ai.generateText",
        "ai.model.id": "m-1",
        "ai.usage.inputTokens": 11,
        "ai.prompt": json.dumps({"system": "be brief", "prompt": QUESTION}),
        "ai.response.text": ANSWER,
    }
    with recorder.tracer.start_as_current_span("ai.generateText", attributes=outer):
        with recorder.tracer.start_as_current_span("ai.generateText.doGenerate", attributes=CASES["vercel_ai"][1]):
            pass
    plan = plan_run(recorder.take(), MappingOptions())
    assert {m.key: m.value for m in plan.metrics}["llm_calls"] == 1
    assert plan.run_name == f"ai.generateText: {QUESTION[:59]}…"
    assert plan.artifacts["question.txt"] == QUESTION and plan.artifacts["answer.txt"] == ANSWER


def test_logfire_runs_are_named_by_the_formatted_message_and_reasons_are_not_json_text(recorder: SpanRecorder) -> None:
    attrs = {**CASES["logfire_old"][1], "gen_ai.system": "openai", "gen_ai.response.finish_reasons": '["stop"]'}
    with recorder.tracer.start_as_current_span(CASES["logfire_old"][0], attributes=attrs):
        pass
    plan = plan_run(recorder.take(), MappingOptions())
    assert plan.run_name is not None and plan.run_name.startswith("Chat Completion with 'm-1': QUESTION-PLANTED")
    assert plan.tags["gen_ai.response.finish_reasons"] == "stop"


def test_tool_and_agent_spans_are_not_model_calls(recorder: SpanRecorder) -> None:
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "m-1", "gen_ai.usage.input_tokens": 11}
    with recorder.tracer.start_as_current_span("invoke_agent", attributes=agent):
        with recorder.tracer.start_as_current_span(
            "execute_tool", attributes={"gen_ai.operation.name": "execute_tool"}
        ):
            pass
        with recorder.tracer.start_as_current_span("chat", attributes=CASES["genai"][1]):
            pass
    assert {m.key: m.value for m in plan_run(recorder.take(), MappingOptions()).metrics}["llm_calls"] == 1


def test_the_readme_lists_every_convention_read() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert conventions.readme_with_table(readme) == readme, "run: python -m otel_mlflow.mapping.conventions README.md"
    assert len(conventions.CONVENTIONS) >= 14  # the 12 MLflow 3.17 reads, ours and MLflow's own


def test_tool_calls_of_every_convention_are_listed_with_their_arguments_and_results(recorder: SpanRecorder) -> None:
    tools = [
        ("execute_tool search", {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                                 "gen_ai.tool.call.arguments": '{"q": "TOOL-ARGS-PLANTED rag"}',
                                 "gen_ai.tool.call.result": "TOOL-RESULT-PLANTED 3 documents"}),
        ("lookup", {"openinference.span.kind": "TOOL", "tool.name": "lookup", "input.value": "TOOL-ARGS-PLANTED id=7",
                    "output.value": "TOOL-RESULT-PLANTED found"}),
        ("ai.toolCall", {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather",
                         "ai.toolCall.args": '{"city": "TOOL-ARGS-PLANTED Paris"}',
                         "ai.toolCall.result": '"TOOL-RESULT-PLANTED sunny"'}),
    ]  # fmt: skip
    with recorder.tracer.start_as_current_span("agent run"):
        for name, attrs in tools:
            with recorder.tracer.start_as_current_span(name, attributes=attrs):
                pass
    spans = recorder.take()
    plan = plan_run(spans, MappingOptions())
    calls = json.loads(plan.artifacts["tool_calls.json"])
    assert [c["name"] for c in calls] == ["search", "lookup", "weather"]
    assert all("TOOL-ARGS-PLANTED" in c["arguments"] and "TOOL-RESULT-PLANTED" in c["result"] for c in calls)
    metrics = {m.key: m.value for m in plan.metrics}
    assert metrics["tool_calls"] == 3 and "llm_calls" not in metrics  # tools are no model calls
    off = plan_run(spans, MappingOptions(capture_content=False))
    assert [c["name"] for c in json.loads(off.artifacts["tool_calls.json"])] == ["search", "lookup", "weather"]
    assert "PLANTED" not in json.dumps(off.artifacts)
