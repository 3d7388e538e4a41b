"""Traceloop / OpenLLMetry: flattened ``gen_ai.prompt.{i}.content`` messages, ``llm.request.type``, entity values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import indexed_text, value_text
from otel_mlflow.mapping.values import as_text

SPAN_KIND = "traceloop.span.kind"
ENTITY_NAME = "traceloop.entity.name"
PROMPT_SUFFIX = ".content"
MARKERS = (A.TL_USAGE_TOTAL_TOKENS, A.TL_ENTITY_INPUT, f"{A.TL_PROMPT_PREFIX}0{PROMPT_SUFFIX}")
"""Keys that say a span follows it without a request type (flattened messages start at index 0)."""


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    request_type = attrs.get(A.TL_REQUEST_TYPE)
    kind = attrs.get(SPAN_KIND)
    if request_type is None and kind is None and not any(key in attrs for key in MARKERS):
        return None
    reading = Reading(
        llm=request_type is not None,
        not_llm=kind in ("workflow", "task", "agent", "tool"),
        operation=as_text(request_type),
        total_tokens=attrs.get(A.TL_USAGE_TOTAL_TOKENS),
        prompt=indexed_text(attrs, A.TL_PROMPT_PREFIX, PROMPT_SUFFIX, ".role"),
        response=indexed_text(attrs, A.TL_COMPLETION_PREFIX, PROMPT_SUFFIX, ".role"),
    )
    entity_in, entity_out = value_text(attrs.get(A.TL_ENTITY_INPUT)), value_text(attrs.get(A.TL_ENTITY_OUTPUT))
    if reading.llm:
        reading.prompt, reading.response = reading.prompt or entity_in, reading.response or entity_out
    else:
        reading.question, reading.answer = entity_in, entity_out
    return reading


CONVENTION = Convention(
    module=__name__,
    name="Traceloop / OpenLLMetry",
    source="`opentelemetry-semantic-conventions-ai` (`gen_ai.prompt.{i}.*`, `traceloop.*`); MLflow reads it",
    read=read,
    content_keys=frozenset({A.TL_ENTITY_INPUT, A.TL_ENTITY_OUTPUT}),
    content_prefixes=(A.TL_PROMPT_PREFIX, A.TL_COMPLETION_PREFIX),
    safe_keys=frozenset({A.TL_REQUEST_TYPE, SPAN_KIND, ENTITY_NAME, "traceloop.workflow.name", "llm.is_streaming"}),
)
