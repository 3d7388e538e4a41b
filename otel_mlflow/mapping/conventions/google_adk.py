"""Google's Agent Development Kit: GenAI keys (:mod:`.genai`) plus the request and response bodies under
``gcp.vertex.agent.*`` (Gemini ``contents`` / ``parts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text
from otel_mlflow.mapping.values import json_object

LLM_REQUEST, LLM_RESPONSE = "gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response"
TOOL_ARGS, TOOL_RESPONSE = "gcp.vertex.agent.tool_call_args", "gcp.vertex.agent.tool_response"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if LLM_REQUEST not in attrs and LLM_RESPONSE not in attrs:
        return None
    request, response = json_object(attrs.get(LLM_REQUEST)), json_object(attrs.get(LLM_RESPONSE))
    usage = json_object(response.get("usage_metadata"))
    return Reading(
        llm=True,
        model=request.get("model") if isinstance(request.get("model"), str) else None,
        prompt=value_text(request) if request else value_text(attrs.get(LLM_REQUEST)),
        response=value_text(response) if response else value_text(attrs.get(LLM_RESPONSE)),
        input_tokens=usage.get("prompt_token_count"),
        output_tokens=usage.get("candidates_token_count"),
        total_tokens=usage.get("total_token_count"),
    )


CONVENTION = Convention(
    module=__name__,
    name="Google ADK",
    source="`google-adk` (`gcp.vertex.agent.*`, GenAI keys); MLflow reads it",
    read=read,
    content_keys=frozenset({LLM_REQUEST, LLM_RESPONSE, TOOL_ARGS, TOOL_RESPONSE}),
    safe_keys=frozenset({"gcp.vertex.agent.invocation_id", "gcp.vertex.agent.session_id", "gcp.vertex.agent.event_id"}),
)
