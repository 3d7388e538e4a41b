"""Pure mapping tests: real SDK spans in, planned MLflow writes out (no MLflow involved)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.mapping.limits import is_valid_key
from otel_mlflow.mapping.run_plan import MappingOptions, RunPlan
from otel_mlflow.mapping.trace_run import plan_run
from tests.helpers import SpanRecorder

OPTIONS = MappingOptions()


def metric_values(plan: RunPlan, key: str) -> list[float]:
    return [m.value for m in plan.metrics if m.key == key]


def rag_trace(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute("http.request.method", "POST")
        root.set_attribute("http.route", "/ask")
        root.set_attribute("http.response.status_code", 200)
        with recorder.tracer.start_as_current_span("chat gpt-4", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
            chat.set_attribute(A.GEN_AI_PROVIDER_NAME, "openai")
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
            chat.set_attribute(A.GEN_AI_REQUEST_TEMPERATURE, 0.7)
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 12)
            chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 34)
            chat.set_attribute(A.GEN_AI_TIME_TO_FIRST_CHUNK, 0.25)
            chat.set_attribute(
                A.GEN_AI_INPUT_MESSAGES,
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "What is RAG?"}]}]),
            )
            chat.set_attribute(
                A.GEN_AI_OUTPUT_MESSAGES,
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Retrieval."}]}]),
            )


def test_genai_trace_maps_to_params_metrics_tags_artifacts(recorder: SpanRecorder) -> None:
    rag_trace(recorder)
    spans = recorder.spans()
    plan = plan_run(spans, OPTIONS)
    root = next(s for s in spans if s.parent is None)
    chat = next(s for s in spans if s.parent is not None)
    assert plan.run_id is None and plan.run_name == "POST /ask: What is RAG?"
    assert plan.params == {"model": "gpt-4", "provider": "openai", "operation": "chat", "temperature": "0.7"}
    assert metric_values(plan, "gen_ai.usage.input_tokens") == [12]
    assert metric_values(plan, "gen_ai.usage.output_tokens") == [34]
    assert metric_values(plan, "tokens.total") == [46]
    assert metric_values(plan, "llm.time_to_first_chunk_ms") == [250]
    assert metric_values(plan, "latency_ms") == [pytest.approx((root.end_time - root.start_time) / 1e6)]
    latency = next(m for m in plan.metrics if m.key == "llm.latency_ms")
    assert latency.timestamp_ms == chat.end_time // 1_000_000  # span time, not export time
    assert plan.tags[A.TAG_TRACE_ID] == format(root.context.trace_id, "032x")
    assert plan.tags["service.name"] == "test-service"
    assert plan.tags["http.route"] == "/ask"
    assert plan.tags["http.request.method"] == "POST"
    assert plan.tags["http.response.status_code"] == "200"
    assert plan.tags[A.TAG_STATUS] == "UNSET"
    assert plan.artifacts["prompt.txt"] == "user: What is RAG?"
    assert plan.artifacts["response.txt"] == "assistant: Retrieval."
    recorded = json.loads(plan.artifacts["spans.json"])
    assert [s["name"] for s in recorded] == ["POST /ask", "chat gpt-4"]
    assert plan.start_ms == root.start_time // 1_000_000


def test_older_genai_token_names(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("llm") as span:
        span.set_attribute(A.GEN_AI_SYSTEM, "openai")
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-3.5")
        span.set_attribute(A.GEN_AI_USAGE_PROMPT_TOKENS, 7)
        span.set_attribute(A.GEN_AI_USAGE_COMPLETION_TOKENS, 9)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["provider"] == "openai"
    assert metric_values(plan, "gen_ai.usage.input_tokens") == [7]
    assert metric_values(plan, "gen_ai.usage.output_tokens") == [9]


def test_current_names_win_over_older_ones(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("llm") as span:
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
        span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 5)
        span.set_attribute(A.GEN_AI_USAGE_PROMPT_TOKENS, 99)
        span.set_attribute(A.OI_TOKEN_PROMPT, 77)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert metric_values(plan, "gen_ai.usage.input_tokens") == [5]


def test_openinference_spans(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("ChatCompletion") as span:
        span.set_attribute(A.OI_SPAN_KIND, "LLM")
        span.set_attribute(A.OI_MODEL_NAME, "llama-3")
        span.set_attribute(A.OI_INVOCATION_PARAMETERS, json.dumps({"temperature": 0.2, "max_tokens": 64}))
        span.set_attribute(A.OI_TOKEN_PROMPT, 20)
        span.set_attribute(A.OI_TOKEN_COMPLETION, 30)
        span.set_attribute("llm.input_messages.0.message.role", "system")
        span.set_attribute("llm.input_messages.0.message.content", "Be brief.")
        span.set_attribute("llm.input_messages.1.message.role", "user")
        span.set_attribute("llm.input_messages.1.message.content", "Hi")
        span.set_attribute("llm.output_messages.0.message.role", "assistant")
        span.set_attribute("llm.output_messages.0.message.content", "Hello")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["model"] == "llama-3"
    assert plan.params["temperature"] == "0.2"
    assert plan.params["max_tokens"] == "64"
    assert metric_values(plan, "gen_ai.usage.input_tokens") == [20]
    assert metric_values(plan, "tokens.total") == [50]
    assert plan.artifacts["prompt.txt"] == "system: Be brief.\nuser: Hi"
    assert plan.artifacts["response.txt"] == "assistant: Hello"


def test_openinference_input_value_and_documents(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("llm") as span:
        span.set_attribute(A.OI_SPAN_KIND, "LLM")
        span.set_attribute(A.OI_INPUT_VALUE, "raw question")
        span.set_attribute(A.OI_OUTPUT_VALUE, "raw answer")
        span.set_attribute("retrieval.documents.0.document.content", "doc one")
        span.set_attribute("retrieval.documents.1.document.content", "doc two")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.artifacts["prompt.txt"] == "raw question"
    assert plan.artifacts["response.txt"] == "raw answer"
    assert plan.artifacts["context.txt"] == "doc one\ndoc two"


def test_traceloop_spans(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("openai.chat") as span:
        span.set_attribute(A.TL_REQUEST_TYPE, "chat")
        span.set_attribute(A.GEN_AI_SYSTEM, "OpenAI")
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o")
        span.set_attribute(A.GEN_AI_USAGE_PROMPT_TOKENS, 3)
        span.set_attribute(A.GEN_AI_USAGE_COMPLETION_TOKENS, 4)
        span.set_attribute(A.TL_USAGE_TOTAL_TOKENS, 7)
        span.set_attribute("gen_ai.prompt.0.role", "user")
        span.set_attribute("gen_ai.prompt.0.content", "ping")
        span.set_attribute("gen_ai.completion.0.role", "assistant")
        span.set_attribute("gen_ai.completion.0.content", "pong")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["operation"] == "chat"
    assert metric_values(plan, "tokens.total") == [7]
    assert plan.artifacts["prompt.txt"] == "user: ping"
    assert plan.artifacts["response.txt"] == "assistant: pong"


def test_old_http_conventions(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("GET /health", kind=SpanKind.SERVER) as span:
        span.set_attribute("http.method", "GET")
        span.set_attribute("http.route", "/health")
        span.set_attribute("http.status_code", 503)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.tags["http.request.method"] == "GET"
    assert plan.tags["http.response.status_code"] == "503"
    assert plan.failed and plan.tags[A.TAG_STATUS] == "ERROR"
    assert metric_values(plan, "error_count") == [1]


def test_error_status_marks_run_failed(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("job") as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
    assert plan_run(recorder.spans(), OPTIONS).failed


def test_non_finite_metrics_are_dropped_and_counted(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("eval") as span:
        span.set_attribute(A.METRIC_PREFIX + "rouge", float("nan"))
        span.set_attribute(A.METRIC_PREFIX + "bleu", float("inf"))
        span.set_attribute(A.METRIC_PREFIX + "f1", 0.5)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert metric_values(plan, "f1") == [0.5]
    assert not metric_values(plan, "rouge") and not metric_values(plan, "bleu")
    assert plan.dropped_metrics == 2
    assert plan.tags[A.TAG_DROPPED_METRICS] == "2"


def test_invalid_keys_are_sanitised(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("s") as span:
        span.set_attribute(A.PARAM_PREFIX + "retriever (k)?", 5)
        span.set_attribute(A.METRIC_PREFIX + "score%", 1.0)
        span.set_attribute(A.TAG_PREFIX + "../team", "search")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["retriever _k__"] == "5"
    assert metric_values(plan, "score_") == [1.0]
    assert plan.tags["team"] == "search"
    for key in [*plan.params, *plan.tags, *(m.key for m in plan.metrics)]:
        assert is_valid_key(key), key


def test_huge_param_is_cut_and_kept_whole_in_an_artifact(recorder: SpanRecorder) -> None:
    value = "x" * 10_000
    with recorder.tracer.start_as_current_span("s") as span:
        span.set_attribute(A.PARAM_PREFIX + "system_prompt", value)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert len(plan.params["system_prompt"]) <= 6000
    assert "overflow/params/system_prompt.txt" in plan.params["system_prompt"]
    assert plan.artifacts["overflow/params/system_prompt.txt"] == value


def test_huge_prompt_goes_to_artifact_with_a_cap(recorder: SpanRecorder) -> None:
    prompt = "word " * 50_000  # 250k chars
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
        span.set_attribute(A.GEN_AI_PROMPT, prompt)
    full = plan_run(recorder.spans(), OPTIONS)
    assert full.artifacts["prompt.txt"] == prompt
    capped = plan_run(recorder.spans(), MappingOptions(max_text_chars=1000))
    assert capped.artifacts["prompt.txt"].startswith(prompt[:1000])
    assert "truncated by otel-mlflow: 249000 more characters" in capped.artifacts["prompt.txt"]
    assert capped.tags[A.TAG_TRUNCATED] == "2"  # prompt.txt and spans.json


def test_non_ascii_text_survives(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "模型-é")
        span.set_attribute(A.GEN_AI_PROMPT, "Qu'est-ce que le RAG ? 什么是RAG？ 🚀")
        span.set_attribute(A.GEN_AI_COMPLETION, "bad surrogate \ud800 here")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["model"] == "模型-é"
    assert plan.artifacts["prompt.txt"] == "Qu'est-ce que le RAG ? 什么是RAG？ 🚀"
    plan.artifacts["response.txt"].encode("utf-8")  # valid UTF-8 now
    json.loads(plan.artifacts["spans.json"])


def test_changed_param_value_goes_to_a_conflict_tag(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("root"):
        for model in ("gpt-4", "gpt-4o-mini"):
            with recorder.tracer.start_as_current_span("chat") as span:
                span.set_attribute(A.GEN_AI_REQUEST_MODEL, model)
                span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 1)
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params["model"] == "gpt-4"
    assert plan.tags[A.TAG_PARAM_CONFLICT_PREFIX + "model"] == "gpt-4o-mini"
    steps = [m.step for m in plan.metrics if m.key == "gen_ai.usage.input_tokens"]
    assert steps == [0, 1]
    assert metric_values(plan, "llm_calls") == [2]


def test_content_capture_off_writes_no_text(recorder: SpanRecorder) -> None:
    rag_trace(recorder)
    plan = plan_run(recorder.spans(), MappingOptions(capture_content=False))
    assert "prompt.txt" not in plan.artifacts and "response.txt" not in plan.artifacts
    assert "What is RAG" not in plan.artifacts["spans.json"]
    assert metric_values(plan, "gen_ai.usage.input_tokens") == [12]


def test_secrets_are_never_planned(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
        span.set_attribute("http.request.header.authorization", "Bearer abcdefghijklmnop")
        span.set_attribute(A.PARAM_PREFIX + "api_key", "sk-abcdefghijklmnopqrstuvwx")
        span.set_attribute(A.GEN_AI_PROMPT, "my key is sk-abcdefghijklmnopqrstuvwx")
    plan = plan_run(recorder.spans(), OPTIONS)
    everything = json.dumps([plan.params, plan.tags, plan.artifacts])
    assert "sk-abcdefghijklmnopqrstuvwx" not in everything
    assert "abcdefghijklmnop" not in everything
    assert plan.params["api_key"] == "sk-...[redacted]"  # the name stays, the value keeps only its kind
    assert "my key is sk-...[redacted]" in plan.artifacts["prompt.txt"]


def test_explicit_run_plan_has_no_run_fields(recorder: SpanRecorder) -> None:
    rag_trace(recorder)
    plan = plan_run(recorder.spans(), OPTIONS, run_id="abc", artifact_prefix="traces/t1/")
    assert plan.run_id == "abc" and plan.run_name is None
    assert "traces/t1/prompt.txt" in plan.artifacts


def test_user_params_metrics_tags(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("retrieve") as span:
        span.set_attribute(A.PARAM_PREFIX + "k", 5)
        span.set_attribute(A.METRIC_PREFIX + "recall", 0.8)
        span.set_attribute(A.TAG_PREFIX + "dataset", "faq-v2")
        span.set_attribute(A.MODEL_VERSION, "gpt-4-turbo")
        span.set_attribute(A.USER_FEEDBACK, "helpful")
    plan = plan_run(recorder.spans(), OPTIONS)
    assert plan.params == {"k": "5", "model_version": "gpt-4-turbo"}
    assert metric_values(plan, "recall") == [0.8]
    assert plan.tags["dataset"] == "faq-v2" and plan.tags["user_feedback"] == "helpful"


def test_child_without_root_uses_earliest_span(recorder: SpanRecorder) -> None:
    rag_trace(recorder)
    children = [s for s in recorder.spans() if s.parent is not None]
    plan = plan_run(children, OPTIONS)
    assert plan.run_name == "chat gpt-4: What is RAG?"


def test_run_names_tell_runs_apart(recorder: SpanRecorder) -> None:
    from otel_mlflow.mapping.window import window_run_name

    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.QUESTION, "What is   retrieval augmented generation, and why would I use it at all?")
    asked = plan_run(recorder.take(), OPTIONS).run_name
    assert asked == "POST /ask: What is retrieval augmented generation, and why would I use…"
    rag_trace(recorder)  # no question: the last user message of the first prompt
    assert plan_run(recorder.take(), OPTIONS).run_name == "POST /ask: What is RAG?"
    rag_trace(recorder)
    quiet = MappingOptions(capture_content=False)
    assert plan_run(recorder.take(), quiet).run_name == "POST /ask"  # no content in names when capture is off
    start = 1_764_160_000 * 10**9
    one, two = (window_run_name("rag-api", {"k": k, "model": "gpt-4"}, start) for k in ("1", "2"))
    assert one == "rag-api k=1 model=gpt-4 2025-11-26 12:26:40" and one != two
    assert window_run_name("rag-api", {}, start) == "rag-api 2025-11-26 12:26:40"
    assert len(window_run_name("s", {f"p{i}": "v" * 20 for i in range(20)}, start)) < 120


def test_cache_and_reasoning_tokens_are_metrics_per_call_and_window_totals(recorder: SpanRecorder) -> None:
    from otel_mlflow.export.pending.windows import WindowSet
    from otel_mlflow.mapping.request_record import request_record
    from otel_mlflow.mapping.window import window_plan

    def request(cached: Any) -> list[Any]:
        with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
            with recorder.tracer.start_as_current_span("chat") as chat:
                chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
                chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 100)
                chat.set_attribute(A.GEN_AI_USAGE_CACHE_READ, cached)
                chat.set_attribute(A.GEN_AI_USAGE_REASONING, 7)
        return recorder.take()

    plan = plan_run(request(80), OPTIONS)
    metrics = {m.key: m.value for m in plan.metrics}
    assert metrics[A.GEN_AI_USAGE_CACHE_READ] == 80 and metrics[A.GEN_AI_USAGE_REASONING] == 7
    assert A.GEN_AI_USAGE_CACHE_CREATION not in metrics  # not reported: not made up
    windows = WindowSet(seconds=60, max_requests=100)
    for cached in (80, "20", -5):  # a numeric string counts; a negative one is dropped and counted
        windows.add(request_record(request(cached)), now=0)
    [window] = windows.all()
    windows.close_expired(now=61)
    final, _ = window_plan(window, OPTIONS)
    totals = {m.key: m.value for m in final.metrics if m.key.startswith("gen_ai.") and m.key.endswith(".total")}
    assert totals == {A.GEN_AI_USAGE_CACHE_READ + ".total": 100, A.GEN_AI_USAGE_REASONING + ".total": 21}
    assert final.dropped_tokens == 1


def test_a_trace_run_is_tagged_with_its_session_and_user(recorder: SpanRecorder) -> None:
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attribute(A.SESSION_ID, "s-9")
        root.set_attribute(A.USER_ID, "u-3")
    plan = plan_run(recorder.take(), OPTIONS)
    assert plan.tags[A.SESSION_ID] == "s-9" and plan.tags[A.USER_ID] == "u-3"


def _calls_with_cache_reads(recorder: SpanRecorder, cache_reads: list[int]) -> list[Any]:
    with recorder.tracer.start_as_current_span("job", kind=SpanKind.INTERNAL):
        for i, cached in enumerate(cache_reads):
            with recorder.tracer.start_as_current_span(f"chat {i}", kind=SpanKind.CLIENT) as chat:
                chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
                chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
                chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 10)
                chat.set_attribute(A.GEN_AI_USAGE_CACHE_READ, cached)
                chat.set_attribute(A.GEN_AI_PROMPT, f"prompt {i}")
                chat.set_attribute(A.GEN_AI_COMPLETION, f"answer {i}")
    return recorder.take()


def test_cache_read_tokens_never_decide_where_a_calls_text_goes(recorder: SpanRecorder) -> None:
    """A detail-token count once overwrote the run's count of LLM calls (OpenLIT's `cache_read=0`: one call's text
    under llm_calls/000/; two calls with `cache_read=1`: both wrote prompt.txt, the first call's text lost)."""
    one = plan_run(_calls_with_cache_reads(recorder, [0]), MappingOptions()).artifacts
    assert one["prompt.txt"] == "prompt 0" and not any(k.startswith("llm_calls/") for k in one)
    two = plan_run(_calls_with_cache_reads(recorder, [1, 1]), MappingOptions()).artifacts
    assert "prompt.txt" not in two
    assert [two[f"llm_calls/{i:03d}/prompt.txt"] for i in range(2)] == ["prompt 0", "prompt 1"]
