"""Laminar (``lmnr``): ``lmnr.span.type`` / ``input`` / ``output``; tokens and model in GenAI keys (:mod:`.genai`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import value_text

TYPE, INPUT, OUTPUT, PATH = "lmnr.span.type", "lmnr.span.input", "lmnr.span.output", "lmnr.span.path"


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    kind = attrs.get(TYPE)
    if kind is None:
        return None
    text_in, text_out = value_text(attrs.get(INPUT)), value_text(attrs.get(OUTPUT))
    if kind in ("LLM", "CACHED"):
        return Reading(llm=True, prompt=text_in, response=text_out)
    return Reading(not_llm=True, question=text_in, answer=text_out)


CONVENTION = Convention(
    module=__name__,
    name="Laminar",
    source="`lmnr` SDK (`lmnr.span.*`, GenAI keys for model and tokens); MLflow reads it",
    read=read,
    content_keys=frozenset({INPUT, OUTPUT}),
    safe_keys=frozenset({TYPE, PATH, "lmnr.span.ids_path", "lmnr.span.instrumentation_source"}),
)
