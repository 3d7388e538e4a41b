"""The Vercel AI SDK (npm ``ai``, ``experimental_telemetry``): ``ai.*`` keys. The provider calls are the
``*.doGenerate`` / ``*.doStream`` spans; the outer ``ai.generateText`` span wraps them and holds what was asked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import last_user_text, messages_text, value_text
from otel_mlflow.mapping.values import as_text, first_of, json_object

OPERATION = "ai.operationId"
MODEL, PROVIDER, RESPONSE_MODEL = "ai.model.id", "ai.model.provider", "ai.response.model"
PROMPT, PROMPT_MESSAGES = "ai.prompt", "ai.prompt.messages"
RESPONSE_TEXT, RESPONSE_OBJECT, TOOL_CALLS = "ai.response.text", "ai.response.object", "ai.response.toolCalls"
FINISH_REASON = "ai.response.finishReason"
TOOL_CALL_NAME, TOOL_CALL_ARGS, TOOL_CALL_RESULT = "ai.toolCall.name", "ai.toolCall.args", "ai.toolCall.result"
MS_TO_FIRST_CHUNK = "ai.response.msToFirstChunk"
INPUT_TOKENS = ("ai.usage.inputTokens", "ai.usage.promptTokens")
OUTPUT_TOKENS = ("ai.usage.outputTokens", "ai.usage.completionTokens")
TOTAL_TOKENS = "ai.usage.totalTokens"
CACHE_READ = ("ai.usage.inputTokenDetails.cacheReadTokens", "ai.usage.cachedInputTokens")
CACHE_WRITE = "ai.usage.inputTokenDetails.cacheWriteTokens"
REASONING = ("ai.usage.outputTokenDetails.reasoningTokens", "ai.usage.reasoningTokens")
SETTINGS = {
    "temperature": "ai.settings.temperature",
    "top_p": "ai.settings.topP",
    "top_k": "ai.settings.topK",
    "max_tokens": "ai.settings.maxOutputTokens",
    "seed": "ai.settings.seed",
}
PROVIDER_CALLS = frozenset(
    {
        "ai.generateText.doGenerate",
        "ai.streamText.doStream",
        "ai.generateObject.doGenerate",
        "ai.streamObject.doStream",
        "ai.embed.doEmbed",
        "ai.embedMany.doEmbed",
    }
)


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    operation = attrs.get(OPERATION)
    if operation is None:
        return None
    call = operation in PROVIDER_CALLS
    response = as_text(attrs.get(RESPONSE_TEXT)) or value_text(attrs.get(RESPONSE_OBJECT))
    if not response and attrs.get(TOOL_CALLS) is not None:
        response = value_text(attrs.get(TOOL_CALLS))
    reading = Reading(llm=call, not_llm=not call, operation=str(operation))
    if operation == "ai.toolCall":
        reading.tool_name = as_text(attrs.get(TOOL_CALL_NAME))
        reading.tool_arguments = value_text(attrs.get(TOOL_CALL_ARGS))
        reading.tool_result = value_text(attrs.get(TOOL_CALL_RESULT))
        return reading
    if not call:  # the SDK call that wraps provider calls (and tool calls): what was asked and answered
        reading.question = _question(attrs.get(PROMPT))
        reading.answer = response
        return reading
    ttfc_ms = attrs.get(MS_TO_FIRST_CHUNK)
    reading.model = as_text(attrs.get(MODEL))
    reading.response_model = as_text(attrs.get(RESPONSE_MODEL))
    reading.provider = as_text(attrs.get(PROVIDER))
    reading.input_tokens = first_of(attrs, *INPUT_TOKENS)
    reading.output_tokens = first_of(attrs, *OUTPUT_TOKENS)
    reading.total_tokens = attrs.get(TOTAL_TOKENS)
    reading.cache_read_tokens = first_of(attrs, *CACHE_READ)
    reading.cache_creation_tokens = attrs.get(CACHE_WRITE)
    reading.reasoning_tokens = first_of(attrs, *REASONING)
    reading.finish_reasons = attrs.get(FINISH_REASON)
    reading.time_to_first_chunk_s = ttfc_ms / 1000 if isinstance(ttfc_ms, (int, float)) else None
    reading.prompt = messages_text(attrs.get(PROMPT_MESSAGES)) or value_text(attrs.get(PROMPT))
    reading.response = response
    for param, key in SETTINGS.items():
        if attrs.get(key) is not None:
            reading.request_params[param] = attrs[key]
    return reading


def _question(prompt: Any) -> str | None:
    """``ai.prompt`` is ``{"system", "prompt"}`` or ``{"system", "messages"}``: the prompt or last user message."""
    parsed = json_object(prompt)
    if isinstance(parsed.get("prompt"), str):
        return str(parsed["prompt"])
    if parsed.get("messages") is not None:
        return last_user_text(messages_text(parsed["messages"]))
    return value_text(prompt)


CONVENTION = Convention(
    module=__name__,
    name="Vercel AI SDK",
    source="npm `ai` telemetry (`ai.*`, checked with ai 6.0); MLflow reads it",
    read=read,
    content_keys=frozenset(
        {
            PROMPT,
            PROMPT_MESSAGES,
            RESPONSE_TEXT,
            RESPONSE_OBJECT,
            TOOL_CALLS,
            "ai.prompt.tools",
            "ai.prompt.toolChoice",
            TOOL_CALL_ARGS,
            TOOL_CALL_RESULT,
            "ai.value",
            "ai.values",
            "ai.embedding",
            "ai.embeddings",
            "ai.response.reasoning",
            "ai.schema",
        }
    ),
    safe_keys=frozenset(
        {
            OPERATION,
            MODEL,
            PROVIDER,
            RESPONSE_MODEL,
            FINISH_REASON,
            "ai.response.id",
            "ai.response.timestamp",
            "ai.telemetry.functionId",
            "operation.name",
            TOOL_CALL_NAME,
            "ai.toolCall.id",
            "ai.request.headers.user-agent",
        }
    ),
)
