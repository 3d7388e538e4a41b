"""LiveKit Agents: GenAI keys for model calls (:mod:`.genai`), text under ``lk.*``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text
from otel_mlflow.mapping.values import first_of

INPUTS = ("lk.chat_ctx", "lk.user_input", "lk.input_text")
USER = ("lk.user_input", "lk.user_transcript")
OUTPUTS = ("lk.response.text", "lk.response.function_calls")
DETECT = (*INPUTS, *USER, *OUTPUTS, "lk.agent_name", "lk.generation_id", "lk.room_name")


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if not any(key in attrs for key in DETECT):  # keys, not a scan of every key: this runs for every span
        return None
    return Reading(
        prompt=value_text(first_of(attrs, *INPUTS)),
        response=value_text(first_of(attrs, *OUTPUTS)),
        question=value_text(first_of(attrs, *USER)),
    )


CONVENTION = Convention(
    module=__name__,
    name="LiveKit Agents",
    source="`livekit-agents` telemetry (`lk.*`, GenAI keys); MLflow reads it",
    read=read,
    content_keys=frozenset(
        {*INPUTS, *USER, *OUTPUTS, "lk.instructions", "lk.function_tool.arguments", "lk.function_tool.output"}
    ),
    safe_keys=frozenset(
        {
            "lk.agent_name",
            "lk.room_name",
            "lk.job_id",
            "lk.participant_identity",
            "lk.generation_id",
            "lk.function_tool.name",
            "lk.function_tool.id",
        }
    ),
)
