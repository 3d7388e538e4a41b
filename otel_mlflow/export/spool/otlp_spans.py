"""OTLP protobuf spans as SDK ``ReadableSpan`` objects: the one reader for the receiver and the spool.

Usage::

    for span_or_error in convert_each(request):   # an ExportTraceServiceRequest
        ...                                        # a ReadableSpan, or the ValueError that refused it

Ids must have their OTLP sizes and not be all zeros; times stay as sent (the mapping clamps a span that ends
before it starts to 0 ms and tags the run, the same for every path);
arrays become tuples (as the SDK holds them); nested values become JSON text.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

_PARENT_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_PARENT_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_KINDS = {
    0: SpanKind.INTERNAL,
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_MAX_DEPTH = 32


def convert_each(request: ExportTraceServiceRequest) -> Iterator[ReadableSpan | ValueError]:
    """Every span of ``request`` in order, as a ``ReadableSpan`` or the ``ValueError`` that refused it."""
    for resource_spans in request.resource_spans:
        resource = Resource(attribute_values(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(scope_spans.scope.name or "unknown", scope_spans.scope.version or None)
            for span in scope_spans.spans:
                try:
                    yield _span(span, resource, scope)
                except ValueError as exc:
                    yield exc


def _span(span: Any, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    trace_id = _id(span.trace_id, 16, "trace_id")
    span_id = _id(span.span_id, 8, "span_id")
    parent = None
    if span.parent_span_id:
        remote = bool(span.flags & _PARENT_HAS_IS_REMOTE) and bool(span.flags & _PARENT_IS_REMOTE)
        parent = SpanContext(trace_id, _id(span.parent_span_id, 8, "parent_span_id"), is_remote=remote)
    start = int(span.start_time_unix_nano)
    end = int(span.end_time_unix_nano)  # kept as sent: the mapping clamps a backwards span and tags it, on every path
    return ReadableSpan(
        name=span.name or "unnamed",
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=parent,
        resource=resource,
        attributes=attribute_values(span.attributes),
        events=[Event(e.name, attribute_values(e.attributes), int(e.time_unix_nano)) for e in span.events],
        links=[
            Link(
                SpanContext(_id(lk.trace_id, 16, "link trace_id"), _id(lk.span_id, 8, "link span_id"), True),
                attribute_values(lk.attributes),
            )
            for lk in span.links
        ],
        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
        status=Status(_STATUS.get(span.status.code, StatusCode.UNSET), span.status.message or None),
        start_time=start,
        end_time=end,
        instrumentation_scope=scope,
    )


def _id(raw: bytes, size: int, name: str) -> int:
    if len(raw) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(raw)}")
    value = int.from_bytes(raw, "big")
    if value == 0:
        raise ValueError(f"{name} is all zeros")
    return value


def attribute_values(pairs: Any) -> dict[str, Any]:
    """OTLP key-values as OTel attribute values (arrays of one type as tuples, anything nested as JSON text)."""
    return {kv.key: _value(kv.value, 0) for kv in pairs if isinstance(kv, KeyValue)}


def _value(value: AnyValue, depth: int) -> Any:
    """An OTLP AnyValue as an OTel attribute value (str, bool, int, float or a list of one of them)."""
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        items = [plain_value(v, depth + 1) for v in value.array_value.values]
        if all(type(i) is type(items[0]) and isinstance(i, (str, bool, int, float)) for i in items):
            return tuple(items)  # a tuple, as the SDK holds arrays: one mapping whichever way a span came
        return json.dumps(items, default=str)
    if kind == "kvlist_value":
        return json.dumps({kv.key: plain_value(kv.value, depth + 1) for kv in value.kvlist_value.values}, default=str)
    return ""


def plain_value(value: AnyValue, depth: int = 0) -> Any:
    """An OTLP AnyValue as plain Python (lists and dicts kept; bytes in base64)."""
    if depth > _MAX_DEPTH:
        return "[nested too deep]"
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: plain_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind) if kind else None
