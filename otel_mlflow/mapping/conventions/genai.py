"""The OpenTelemetry GenAI semantic conventions: current names, older names, and content as span events (the
older ``gen_ai.content.*`` events Spring AI sends, and per-message events). OpenLIT, Logfire 5, the official OpenAI
instrumentation and Traceloop's newer releases use them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import event_text, messages_text, usable, value_text
from otel_mlflow.mapping.values import as_text, first_of

TOTAL_TOKENS = "gen_ai.usage.total_tokens"
"""Not in the conventions, but sent by Traceloop and others."""
CACHE_WRITE = ("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens")
CACHE_READ_FLAT = "gen_ai.usage.cache_read_input_tokens"
CACHE_WRITE_FLAT = "gen_ai.usage.cache_creation_input_tokens"
REASONING_FLAT = "gen_ai.usage.reasoning_tokens"
SERVER_TTFT = "gen_ai.server.time_to_first_token"
TOOL_ARGUMENTS, TOOL_RESULT, TOOL_DEFINITIONS = (
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
)
TOOL_NAME = "gen_ai.tool.name"
INPUT_MESSAGES_REF, OUTPUT_MESSAGES_REF = "gen_ai.input.messages.ref", "gen_ai.output.messages.ref"
NOT_A_MODEL_CALL = frozenset({"execute_tool", "invoke_agent", "create_agent", "retrieval", "invoke_workflow"})
"""Operations that are no call to a model, even when the span also names one (an agent's model, a tool's)."""
MARKERS = (
    A.GEN_AI_OPERATION_NAME,
    A.GEN_AI_REQUEST_MODEL,
    A.GEN_AI_RESPONSE_MODEL,
    A.GEN_AI_PROVIDER_NAME,
    A.GEN_AI_SYSTEM,
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_PROMPT_TOKENS,
)
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
"""The event (a log record, folded into its span: :mod:`otel_mlflow.mapping.log_events`) that holds a call's
messages in ``event_only`` mode; the same keys as on the span."""
MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user", "gen_ai.assistant.message": None}


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if not any(key in attrs for key in MARKERS):
        return None
    operation = as_text(attrs.get(A.GEN_AI_OPERATION_NAME))
    reading = Reading(
        llm=operation not in NOT_A_MODEL_CALL,
        not_llm=operation in NOT_A_MODEL_CALL,
        model=as_text(attrs.get(A.GEN_AI_REQUEST_MODEL)),
        response_model=as_text(attrs.get(A.GEN_AI_RESPONSE_MODEL)),
        provider=as_text(first_of(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM)),
        operation=operation,
        input_tokens=first_of(attrs, A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_PROMPT_TOKENS),
        output_tokens=first_of(attrs, A.GEN_AI_USAGE_OUTPUT_TOKENS, A.GEN_AI_USAGE_COMPLETION_TOKENS),
        total_tokens=attrs.get(TOTAL_TOKENS),
        cache_read_tokens=first_of(attrs, A.GEN_AI_USAGE_CACHE_READ, CACHE_READ_FLAT),
        cache_creation_tokens=first_of(attrs, *CACHE_WRITE, CACHE_WRITE_FLAT),
        reasoning_tokens=first_of(attrs, A.GEN_AI_USAGE_REASONING, REASONING_FLAT),
        finish_reasons=attrs.get(A.GEN_AI_RESPONSE_FINISH_REASONS),
        time_to_first_chunk_s=first_of(attrs, A.GEN_AI_TIME_TO_FIRST_CHUNK, SERVER_TTFT),
        prompt=_prompt(span, attrs),
        response=messages_text(attrs.get(A.GEN_AI_OUTPUT_MESSAGES))
        or messages_text(_details(span, A.GEN_AI_OUTPUT_MESSAGES))
        or usable(as_text(attrs.get(A.GEN_AI_COMPLETION)))
        or event_text(span, A.EVENT_GEN_AI_CONTENT_COMPLETION, A.GEN_AI_COMPLETION)
        or _choice_events(span),
    )
    if operation == "execute_tool":
        reading.tool_name = as_text(attrs.get(TOOL_NAME))
        reading.tool_arguments = value_text(attrs.get(TOOL_ARGUMENTS))
        reading.tool_result = value_text(attrs.get(TOOL_RESULT))
    for param, key in (
        ("temperature", A.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", A.GEN_AI_REQUEST_TOP_P),
        ("top_k", A.GEN_AI_REQUEST_TOP_K),
        ("max_tokens", A.GEN_AI_REQUEST_MAX_TOKENS),
        ("seed", A.GEN_AI_REQUEST_SEED),
    ):
        if attrs.get(key) is not None:
            reading.request_params[param] = attrs[key]
    return reading


def _prompt(span: ReadableSpan, attrs: Mapping[str, Any]) -> str | None:
    messages = (
        messages_text(attrs.get(A.GEN_AI_INPUT_MESSAGES))
        or messages_text(_details(span, A.GEN_AI_INPUT_MESSAGES))
        or usable(as_text(attrs.get(A.GEN_AI_PROMPT)))
        or event_text(span, A.EVENT_GEN_AI_CONTENT_PROMPT, A.GEN_AI_PROMPT)
        or _message_events(span)
    )
    instructions = attrs.get(A.GEN_AI_SYSTEM_INSTRUCTIONS) or _details(span, A.GEN_AI_SYSTEM_INSTRUCTIONS)
    system = messages_text(instructions, default_role="system")
    if system and messages and system in messages:
        system = None  # also the first of the input messages (OpenLIT sends both)
    return "\n\n".join(part for part in (system, messages) if part) or None


def _details(span: ReadableSpan, key: str) -> object:
    for event in span.events or ():
        if event.name == DETAILS_EVENT and event.attributes and event.attributes.get(key) is not None:
            return event.attributes[key]
    return None


def _message_events(span: ReadableSpan) -> str | None:
    lines = []
    for event in span.events or ():
        if event.name in MESSAGE_EVENTS and event.attributes and event.attributes.get("content") is not None:
            role = MESSAGE_EVENTS[event.name] or "assistant"
            lines.append(f"{role}: {messages_text(event.attributes['content'])}")
    return "\n".join(lines) or None


def _choice_events(span: ReadableSpan) -> str | None:
    for event in span.events or ():
        if event.name == "gen_ai.choice" and event.attributes:
            message = event.attributes.get("message", event.attributes.get("content"))
            if message is not None:
                return messages_text(message)
    return None


CONVENTION = Convention(
    module=__name__,
    name="OpenTelemetry GenAI semantic conventions",
    source="opentelemetry.io semconv `gen_ai.*` (current and older names, content events); MLflow reads it",
    read=read,
    content_keys=frozenset(
        {
            A.GEN_AI_INPUT_MESSAGES,
            A.GEN_AI_OUTPUT_MESSAGES,
            A.GEN_AI_SYSTEM_INSTRUCTIONS,
            A.GEN_AI_PROMPT,
            A.GEN_AI_COMPLETION,
            A.GEN_AI_RETRIEVAL_DOCUMENTS,
            A.GEN_AI_RETRIEVAL_QUERY_TEXT,
            TOOL_ARGUMENTS,
            TOOL_RESULT,
            "content",
            "message",
        }
    ),
    safe_keys=frozenset(
        {
            *MARKERS,
            A.GEN_AI_RESPONSE_ID,
            A.GEN_AI_RESPONSE_FINISH_REASONS,
            "gen_ai.agent.name",
            "gen_ai.agent.id",
            "gen_ai.conversation.id",
            TOOL_NAME,
            "gen_ai.tool.call.id",
            "gen_ai.tool.type",
            "gen_ai.output.type",
            "gen_ai.data_source.id",
            INPUT_MESSAGES_REF,
            OUTPUT_MESSAGES_REF,
        }
    ),
)
