"""Pydantic Logfire: span names are message templates (``Chat Completion with {request_data[model]!r}``), the
formatted message is ``logfire.msg``; older releases put the request and response bodies in ``request_data`` /
``response_data`` (newer ones add the GenAI keys, read by :mod:`.genai`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text
from otel_mlflow.mapping.values import as_text, json_object

MESSAGE, TEMPLATE, TAGS = "logfire.msg", "logfire.msg_template", "logfire.tags"
REQUEST_DATA, RESPONSE_DATA = "request_data", "response_data"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if TEMPLATE not in attrs and MESSAGE not in attrs:
        return None
    reading = Reading(display_name=as_text(attrs.get(MESSAGE)))
    request, response = json_object(attrs.get(REQUEST_DATA)), json_object(attrs.get(RESPONSE_DATA))
    tags = attrs.get(TAGS) or ()
    if "LLM" in tags or "messages" in request:
        reading.llm = True
        reading.model = as_text(request.get("model"))
        reading.prompt = value_text(request) if "messages" in request else None
        message = response.get("message")
        reading.response = value_text(message) if message is not None else None
        usage = json_object(response.get("usage"))
        reading.input_tokens = usage.get("prompt_tokens", usage.get("input_tokens"))
        reading.output_tokens = usage.get("completion_tokens", usage.get("output_tokens"))
        reading.total_tokens = usage.get("total_tokens")
    return reading


CONVENTION = Convention(
    module=__name__,
    name="Pydantic Logfire",
    source="`logfire` (`logfire.msg`, `request_data`, `response_data`; checked with logfire 5.4)",
    read=read,
    content_keys=frozenset({MESSAGE, REQUEST_DATA, RESPONSE_DATA}),
    safe_keys=frozenset({TEMPLATE, TAGS, "logfire.span_type", "logfire.json_schema", "logfire.level_num"}),
)
