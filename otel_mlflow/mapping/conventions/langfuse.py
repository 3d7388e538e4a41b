"""Langfuse's OpenTelemetry SDK: ``langfuse.observation.*`` (a ``generation`` is a model call)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text
from otel_mlflow.mapping.values import as_text, json_object

TYPE, INPUT, OUTPUT = "langfuse.observation.type", "langfuse.observation.input", "langfuse.observation.output"
MODEL, PARAMETERS, USAGE = (
    "langfuse.observation.model.name",
    "langfuse.observation.model.parameters",
    "langfuse.observation.usage_details",
)
TRACE_INPUT, TRACE_OUTPUT = "langfuse.trace.input", "langfuse.trace.output"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    kind = attrs.get(TYPE)
    if kind is None and TRACE_INPUT not in attrs:
        return None
    if kind not in ("generation", "embedding"):
        return Reading(
            not_llm=kind is not None,
            question=value_text(attrs.get(TRACE_INPUT, attrs.get(INPUT))),
            answer=value_text(attrs.get(TRACE_OUTPUT, attrs.get(OUTPUT))),
        )
    usage = json_object(attrs.get(USAGE))
    reading = Reading(
        llm=True,
        model=as_text(attrs.get(MODEL)),
        input_tokens=usage.get("input", usage.get("prompt_tokens")),
        output_tokens=usage.get("output", usage.get("completion_tokens")),
        total_tokens=usage.get("total"),
        cache_read_tokens=usage.get("input_cache_read", usage.get("cache_read_input_tokens")),
        prompt=value_text(attrs.get(INPUT)),
        response=value_text(attrs.get(OUTPUT)),
    )
    for param, value in json_object(attrs.get(PARAMETERS)).items():
        if param in ("temperature", "top_p", "top_k", "max_tokens", "seed") and not isinstance(value, (dict, list)):
            reading.request_params[param] = value
    return reading


CONVENTION = Convention(
    module=__name__,
    name="Langfuse",
    source="Langfuse OTel SDK (`langfuse.observation.*`, `langfuse.trace.*`); MLflow reads it",
    read=read,
    content_keys=frozenset({INPUT, OUTPUT, TRACE_INPUT, TRACE_OUTPUT}),
    safe_keys=frozenset({TYPE, MODEL, PARAMETERS, USAGE, "langfuse.trace.name", "langfuse.observation.level"}),
)
