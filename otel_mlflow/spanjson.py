"""Finished spans as plain JSON-ready dicts, for the ``spans.json`` artifact of a run.

Secret attributes are dropped and secret-looking text is masked; with content capture off, the
attributes that carry prompt or response text are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.limits import clean_text
from otel_mlflow.redact import is_secret_key, redact_text

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


def clean_attributes(attrs: Mapping[str, Any] | None, capture_content: bool) -> dict[str, Any]:
    """Attributes safe to write: no secrets, no content unless captured, valid UTF-8 text."""
    out: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        if is_secret_key(key) or (not capture_content and is_content_key(key)):
            continue
        out[clean_text(str(key))] = _clean_value(value)
    return out


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(clean_text(value))
    if isinstance(value, (list, tuple)):
        return [_clean_value(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return "NaN"
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return str(value)
    return value


def span_to_dict(span: ReadableSpan, capture_content: bool) -> dict[str, Any]:
    """One span as a JSON-ready dict (ids in hex, times in ns since the epoch)."""
    ctx = span.context
    parent = span.parent
    return {
        "name": clean_text(str(span.name)),
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name if span.kind is not None else None,
        "start_time_ns": span.start_time,
        "end_time_ns": span.end_time,
        "status": span.status.status_code.name if span.status is not None else None,
        "status_description": span.status.description if span.status is not None else None,
        "attributes": clean_attributes(span.attributes, capture_content),
        "events": [
            {
                "name": clean_text(str(e.name)),
                "timestamp_ns": e.timestamp,
                "attributes": clean_attributes(e.attributes, capture_content),
            }
            for e in span.events or ()
        ],
        "resource": clean_attributes(span.resource.attributes if span.resource else None, True),
    }


def spans_to_list(spans: Iterable[ReadableSpan], capture_content: bool) -> list[dict[str, Any]]:
    """Spans as dicts, ordered by start time."""
    return [span_to_dict(s, capture_content) for s in sorted(spans, key=lambda s: s.start_time or 0)]
