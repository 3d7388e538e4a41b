"""Gemini CLI: GenAI keys (:mod:`.genai`) with operations of its own (``llm_call``, ``tool_call``...) and
``gen_ai.agent.name = gemini-cli``; messages in Gemini's ``parts`` shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention, Reading

AGENT_NAME, GEMINI_CLI = "gen_ai.agent.name", "gemini-cli"
NOT_CALLS = frozenset({"tool_call", "agent_call", "user_prompt", "system_prompt", "schedule_tool_calls"})


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if attrs.get(AGENT_NAME) != GEMINI_CLI:
        return None
    operation = attrs.get(A.GEN_AI_OPERATION_NAME)
    return Reading(llm=operation == "llm_call", not_llm=operation in NOT_CALLS)


CONVENTION = Convention(
    module=__name__,
    name="Gemini CLI",
    source="`@google/gemini-cli` telemetry (GenAI keys, its own operation names); MLflow reads it",
    read=read,
)
