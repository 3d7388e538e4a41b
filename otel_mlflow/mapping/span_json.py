"""Finished spans as plain JSON-ready dicts, for the ``spans.json`` artifact of a run.

Secret attributes are dropped and secret-looking text is masked; with content capture off, the
attributes that carry prompt or response text are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.limits import clean_text
from otel_mlflow.mapping.scrub import is_secret_key, redact_text

_CONTENT_KEYS = frozenset(
    {
        A.GEN_AI_INPUT_MESSAGES,
        A.GEN_AI_OUTPUT_MESSAGES,
        A.GEN_AI_SYSTEM_INSTRUCTIONS,
        A.GEN_AI_PROMPT,
        A.GEN_AI_COMPLETION,
        A.GEN_AI_RETRIEVAL_DOCUMENTS,
        A.GEN_AI_RETRIEVAL_QUERY_TEXT,
        A.OI_INPUT_VALUE,
        A.OI_OUTPUT_VALUE,
        A.TL_ENTITY_INPUT,
        A.TL_ENTITY_OUTPUT,
        A.QUESTION,
        A.ANSWER,
        A.CONTEXT,
    }
)
_CONTENT_PREFIXES = (
    A.OI_INPUT_MESSAGES_PREFIX,
    A.OI_OUTPUT_MESSAGES_PREFIX,
    A.OI_RETRIEVAL_DOCUMENTS_PREFIX,
    A.TL_PROMPT_PREFIX,
    A.TL_COMPLETION_PREFIX,
)


def is_content_key(key: str) -> bool:
    """True when the attribute ``key`` carries prompt, response or document text."""
    return key in _CONTENT_KEYS or key.startswith(_CONTENT_PREFIXES)


def clean_attributes(attrs: Mapping[str, Any] | None, capture_content: bool,
                     patterns: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """Attributes safe to write: no secrets, no content unless captured, valid UTF-8 text."""
    out: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        if is_secret_key(key) or (not capture_content and is_content_key(key)):
            continue
        out[redact_text(clean_text(str(key)), patterns)] = _clean_value(value, patterns)
    return out


def _clean_value(value: Any, patterns: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact_text(clean_text(value), patterns)
    if isinstance(value, (list, tuple)):
        return [_clean_value(v, patterns) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return str(value)
    return value


def span_to_dict(span: ReadableSpan, capture_content: bool, patterns: tuple[str, ...] = ()) -> dict[str, Any]:
    """One span as a JSON-ready dict (ids in hex, times in ns since the epoch)."""
    ctx = span.context
    parent = span.parent
    return {
        "name": redact_text(clean_text(str(span.name)), patterns),
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name if span.kind is not None else None,
        "start_time_ns": span.start_time,
        "end_time_ns": span.end_time,
        "status": span.status.status_code.name if span.status is not None else None,
        "status_description": redact_text(clean_text(span.status.description or ""), patterns) or None
        if span.status is not None
        else None,
        "attributes": clean_attributes(span.attributes, capture_content, patterns),
        "events": [
            {
                "name": redact_text(clean_text(str(e.name)), patterns),
                "timestamp_ns": e.timestamp,
                "attributes": clean_attributes(e.attributes, capture_content, patterns),
            }
            for e in span.events or ()
        ],
        "resource": clean_attributes(span.resource.attributes if span.resource else None, True, patterns),
    }


def sanitized_span(span: ReadableSpan, capture_content: bool, patterns: tuple[str, ...] = ()) -> ReadableSpan:
    """A copy of ``span`` safe to send elsewhere (MLflow's /v1/traces): the same cleaning as spans.json."""
    from opentelemetry.sdk.trace import Event

    return ReadableSpan(
        name=redact_text(clean_text(str(span.name)), patterns),
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=clean_attributes(span.attributes, capture_content, patterns),
        events=[Event(redact_text(clean_text(str(e.name)), patterns),
                      clean_attributes(e.attributes, capture_content, patterns), e.timestamp) for e in span.events],
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )  # fmt: skip


def spans_to_list(spans: Iterable[ReadableSpan], capture_content: bool,
                  patterns: tuple[str, ...] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """Spans as dicts, ordered by start time."""
    return [span_to_dict(s, capture_content, patterns) for s in sorted(spans, key=lambda s: s.start_time or 0)]
