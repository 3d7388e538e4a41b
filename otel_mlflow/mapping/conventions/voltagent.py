"""VoltAgent: ``span.type`` (``llm``, ``tool``, ``agent``), chat messages in ``llm.messages`` / ``agent.messages``,
``input`` / ``output``, tokens under ``usage.*`` or ``llm.usage.*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import last_user_text, messages_text, value_text
from otel_mlflow.mapping.values import first_of

DETECT = ("voltagent.operation_id", "voltagent.conversation_id")
TYPE, ENTITY_TYPE = "span.type", "entity.type"
LLM_MESSAGES, AGENT_MESSAGES, INPUT, OUTPUT = "llm.messages", "agent.messages", "input", "output"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if not any(key in attrs for key in DETECT):
        return None
    kind = attrs.get(TYPE) or attrs.get(ENTITY_TYPE)
    if kind == "llm":
        return Reading(
            llm=True,
            model=first_of(attrs, "llm.model", "model"),
            input_tokens=first_of(attrs, "usage.prompt_tokens", "llm.usage.prompt_tokens"),
            output_tokens=first_of(attrs, "usage.completion_tokens", "llm.usage.completion_tokens"),
            total_tokens=first_of(attrs, "usage.total_tokens", "llm.usage.total_tokens"),
            prompt=messages_text(attrs.get(LLM_MESSAGES)) or value_text(attrs.get(INPUT)),
            response=value_text(attrs.get(OUTPUT)),
        )
    question = last_user_text(messages_text(attrs.get(AGENT_MESSAGES))) or value_text(attrs.get(INPUT))
    return Reading(not_llm=kind is not None, question=question, answer=value_text(attrs.get(OUTPUT)))


CONVENTION = Convention(
    module=__name__,
    name="VoltAgent",
    source="VoltAgent observability (`span.type`, `llm.messages`, `usage.*`); MLflow reads it",
    read=read,
    content_keys=frozenset({LLM_MESSAGES, AGENT_MESSAGES, INPUT, OUTPUT}),
    safe_keys=frozenset({*DETECT, TYPE, ENTITY_TYPE, "entity.id", "entity.name"}),
)
