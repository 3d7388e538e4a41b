"""Finished spans as plain JSON-ready dicts, for the ``spans.json`` artifact of a run.

Secrets are masked (:mod:`otel_mlflow.scrub`); with content capture off, what any convention declares as
content is left out, and so is every other long string of a key not known to hold none (deny by default:
:func:`otel_mlflow.mapping.conventions.keep_without_content`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.conventions import keep_without_content
from otel_mlflow.mapping.limits import clean_text
from otel_mlflow.scrub import Scrubber


def clean_attributes(attrs: Mapping[str, Any] | None, capture_content: bool, scrub: Scrubber) -> dict[str, Any]:
    """Attributes safe to write: secrets masked, no content unless captured, valid UTF-8 text, JSON numbers."""
    out: dict[str, Any] = {}
    for key, value in (attrs or {}).items():
        key = str(key)
        if not capture_content and not keep_without_content(key, value):
            continue
        out[scrub.key(clean_text(key))] = _json_ready(scrub.value(key, _utf8(value)))
    return out


def _utf8(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (list, tuple)):
        return [_utf8(v) for v in value]
    return value


def _json_ready(value: Any) -> Any:
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return str(value)
    return value


def _text(value: Any, scrub: Scrubber) -> str:
    return scrub.text(clean_text(str(value)))


def span_to_dict(span: ReadableSpan, capture_content: bool, scrub: Scrubber) -> dict[str, Any]:
    """One span as a JSON-ready dict (ids in hex, times in ns since the epoch)."""
    ctx = span.context
    parent = span.parent
    status = span.status
    return {
        "name": _text(span.name, scrub),
        "trace_id": format(ctx.trace_id, "032x") if ctx else None,
        "span_id": format(ctx.span_id, "016x") if ctx else None,
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "kind": span.kind.name if span.kind is not None else None,
        "start_time_ns": span.start_time,
        "end_time_ns": span.end_time,
        "status": status.status_code.name if status is not None else None,
        "status_description": (_text(status.description, scrub) or None)
        if status is not None and status.description
        else None,
        "attributes": clean_attributes(span.attributes, capture_content, scrub),
        "events": [
            {
                "name": _text(e.name, scrub),
                "timestamp_ns": e.timestamp,
                "attributes": clean_attributes(e.attributes, capture_content, scrub),
            }
            for e in span.events or ()
        ],
        "links": [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": clean_attributes(link.attributes, capture_content, scrub),
            }
            for link in span.links or ()
        ],
        "resource": clean_attributes(span.resource.attributes if span.resource else None, True, scrub),
    }


def sanitized_span(
    span: ReadableSpan, capture_content: bool, scrub: Scrubber, extra: Mapping[str, Any] | None = None
) -> ReadableSpan:
    """A copy of ``span`` safe to send elsewhere (an MLflow trace): the same cleaning as spans.json, on its name,
    attributes, status message, events, links and resource; ``extra`` attributes are added, cleaned alike."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event
    from opentelemetry.trace import Link, Status

    status = span.status
    if status is not None and status.description:
        status = Status(status.status_code, _text(status.description, scrub))
    resource = span.resource
    if resource is not None:
        resource = Resource(clean_attributes(resource.attributes, True, scrub), resource.schema_url)
    return ReadableSpan(
        name=_text(span.name, scrub),
        context=span.context,
        parent=span.parent,
        resource=resource,
        attributes=clean_attributes({**(span.attributes or {}), **(extra or {})}, capture_content, scrub),
        events=[
            Event(_text(e.name, scrub), clean_attributes(e.attributes, capture_content, scrub), e.timestamp)
            for e in span.events
        ],
        links=[Link(link.context, clean_attributes(link.attributes, capture_content, scrub)) for link in span.links],
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=max(span.end_time, span.start_time) if span.end_time and span.start_time else span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def spans_to_list(spans: Iterable[ReadableSpan], capture_content: bool, scrub: Scrubber) -> list[dict[str, Any]]:
    """Spans as dicts, ordered by start time."""
    return [span_to_dict(s, capture_content, scrub) for s in sorted(spans, key=lambda s: s.start_time or 0)]
