"""GenAI events that arrive as OTLP log records, carried to the span they belong to. Pure.

OpenTelemetry moves span events to log records: the GenAI instrumentations' ``event_only`` mode sends the messages
as a ``gen_ai.client.inference.operation.details`` record (older ones: ``gen_ai.user.message``, ``gen_ai.choice``...)
with the trace and span ids of the call. Such a record becomes an *event span* (:func:`event_span`): a child of
that call's span, so it is spooled, grouped with its trace and replayed exactly like the spans, whether it comes
before or after them. Before a trace is mapped, :func:`fold_log_events` turns each event span back into an event of
its span; one whose span is not in the group (never came, or came after its trace was written) is an orphan:
counted, not written::

    spans = [event_span(trace_id, span_id, "gen_ai.client.inference.operation.details", fields, time_ns)]
    folded, orphans = fold_log_events(group_spans)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from otel_mlflow import attributes as A

GENAI_EVENT_PREFIX = "gen_ai."
_SCOPE = InstrumentationScope("otel_mlflow.log_events")


def is_genai_event(name: str | None, trace_id: int | None, span_id: int | None) -> bool:
    """A record otel-mlflow keeps: a GenAI event (``gen_ai.*``) that names the span it belongs to."""
    return bool(name and name.startswith(GENAI_EVENT_PREFIX) and trace_id and span_id)


def record_fields(attributes: Mapping[str, Any] | None, body: Any) -> dict[str, Any]:
    """A record's attributes and body as one object: a body that is a map gives its keys (``content``, ``message``,
    ``role``...: the older GenAI events), any other body is ``body``."""
    fields = dict(attributes or {})
    if isinstance(body, Mapping):
        for key, value in body.items():
            fields.setdefault(str(key), value)
    elif body not in (None, ""):
        fields.setdefault("body", body)
    return fields


def event_span(
    trace_id: int,
    span_id: int,
    name: str,
    fields: Mapping[str, Any],
    time_ns: int,
    resource: Resource | None = None,
) -> ReadableSpan:
    """The event span of one record. Its own id is a hash of the record, so a record sent twice is one event."""
    text = json.dumps(dict(fields), sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.blake2b(f"{trace_id:x}/{span_id:x}/{name}/{time_ns}/{text}".encode(), digest_size=8).digest()
    own_id = int.from_bytes(digest, "big") or 1
    return ReadableSpan(
        name=A.LOG_EVENT_SPAN,
        context=SpanContext(trace_id, own_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=SpanContext(trace_id, span_id, is_remote=False),
        resource=resource or Resource.get_empty(),
        attributes={A.LOG_EVENT_NAME: name, A.LOG_EVENT_FIELDS: text},
        kind=SpanKind.INTERNAL,
        start_time=time_ns,
        end_time=time_ns,
        instrumentation_scope=_SCOPE,
    )


def is_event_span(span: ReadableSpan) -> bool:
    return span.name == A.LOG_EVENT_SPAN and A.LOG_EVENT_NAME in (span.attributes or {})


def fold_log_events(spans: Sequence[ReadableSpan]) -> tuple[list[ReadableSpan], int]:
    """``spans`` with every event span folded into its span as an event; and how many had no span here."""
    if not any(is_event_span(s) for s in spans):
        return list(spans), 0
    others = [s for s in spans if not is_event_span(s)]
    by_id = {s.context.span_id: s for s in others if s.context is not None}
    events: dict[int, dict[int, Event]] = {}
    orphans = 0
    for span in spans:
        if not is_event_span(span):
            continue
        target = span.parent.span_id if span.parent is not None else 0
        if target not in by_id or span.context is None:
            orphans += 1
            continue
        events.setdefault(target, {})[span.context.span_id] = _event(span)  # keyed by record: a resend is one
    folded = [
        span_with(s, events=_merged(s, events[s.context.span_id].values()))
        if s.context and s.context.span_id in events
        else s
        for s in others
    ]
    return folded, orphans


def _event(span: ReadableSpan) -> Event:
    attrs = span.attributes or {}
    try:
        fields = json.loads(str(attrs.get(A.LOG_EVENT_FIELDS, "{}")))
    except ValueError:
        fields = {}
    values = {str(k): _attribute(v) for k, v in (fields.items() if isinstance(fields, dict) else ())}
    return Event(str(attrs[A.LOG_EVENT_NAME]), {k: v for k, v in values.items() if v is not None}, span.start_time)


def _attribute(value: Any) -> Any:
    """A span event's attribute: primitives and lists of one primitive type as they are, anything else JSON text."""
    if isinstance(value, (str, bool, int, float)):
        return value
    same_type = isinstance(value, (list, tuple)) and value and all(type(v) is type(value[0]) for v in value)
    if same_type and isinstance(value[0], (str, bool, int, float)):
        return tuple(value)
    return None if value is None else json.dumps(value, default=str, ensure_ascii=False)


def _merged(span: ReadableSpan, events: Iterable[Event]) -> list[Event]:
    return sorted([*span.events, *events], key=lambda e: e.timestamp or 0)


def span_with(
    span: ReadableSpan, *, attributes: Mapping[str, Any] | None = None, events: Sequence[Event] | None = None
) -> ReadableSpan:
    """A copy of ``span`` with its attributes or events replaced (a finished span cannot be changed)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes if attributes is None else attributes,
        events=span.events if events is None else events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
