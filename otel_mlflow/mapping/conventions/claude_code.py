"""Claude Code and the Claude Agent SDK: ``span.type`` (``claude_code.interaction`` / ``llm_request`` / ``tool``),
bare token keys, and text that is ``<REDACTED>`` unless the user opted in (never taken for text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text
from otel_mlflow.mapping.values import as_text

TYPE = "span.type"
INTERACTION, LLM_REQUEST, TOOL = "claude_code.interaction", "claude_code.llm_request", "claude_code.tool"
USER_PROMPT, NEW_CONTEXT, MODEL_OUTPUT, TOOL_INPUT = "user_prompt", "new_context", "response.model_output", "tool_input"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    kind = as_text(attrs.get(TYPE))
    if not kind:
        return None
    kind = kind if kind.startswith("claude_code.") else f"claude_code.{kind}"
    if kind == LLM_REQUEST:
        return Reading(
            llm=True,
            model=as_text(attrs.get("model")),
            provider="anthropic",
            input_tokens=attrs.get("input_tokens"),
            output_tokens=attrs.get("output_tokens"),
            cache_read_tokens=attrs.get("cache_read_tokens"),
            cache_creation_tokens=attrs.get("cache_creation_tokens"),
            prompt=value_text(attrs.get(NEW_CONTEXT)),
            response=value_text(attrs.get(MODEL_OUTPUT)),
        )
    if kind == INTERACTION:
        return Reading(not_llm=True, question=value_text(attrs.get(USER_PROMPT)))
    if kind == TOOL:
        return Reading(not_llm=True)
    return None


CONVENTION = Convention(
    module=__name__,
    name="Claude Code / Claude Agent SDK",
    source="Claude Code OTel traces (`span.type`, bare token keys); MLflow reads it",
    read=read,
    content_keys=frozenset({USER_PROMPT, NEW_CONTEXT, MODEL_OUTPUT, TOOL_INPUT, "full_command", "file_path", "diff"}),
    safe_keys=frozenset({TYPE, "model", "tool_name", "session.id", "prompt.id"}),
)
