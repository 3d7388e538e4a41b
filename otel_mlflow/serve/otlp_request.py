"""Decode OTLP/HTTP trace requests (protobuf or JSON) into SDK ``ReadableSpan`` objects.

The receiver hands the result to the same ``MLflowSpanExporter`` the in-process path uses, so one
mapping serves both. Usage::

    decoded = decode_request(body, content_type="application/x-protobuf")
    decoded.spans            # list[ReadableSpan]
    decoded.rejected         # spans refused (bad ids), for OTLP partial success
    decoded.errors           # why, one line each

A body that is not a valid OTLP request raises :class:`OTLPDecodeError` with the reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_PARENT_HAS_IS_REMOTE = 0x100  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_PARENT_IS_REMOTE = 0x200  # SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_KINDS = {0: SpanKind.INTERNAL, 1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT,
          4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER}  # fmt: skip
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_MAX_DEPTH = 32


class OTLPDecodeError(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest; the message says why."""


class TooManySpans(ValueError):
    """The request holds more spans than the receiver takes at once (checked before any span is built)."""


@dataclass
class Decoded:
    spans: list[ReadableSpan] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def decode_request(body: bytes, content_type: str, max_spans: int | None = None) -> Decoded:
    """Parse ``body`` as ``content_type`` (protobuf or JSON) and convert every valid span.

    With ``max_spans``, a request holding more spans raises :class:`TooManySpans` after parsing and
    before any ``ReadableSpan`` is built (those cost ~1 KB each, many times a tiny span's bytes)."""
    request = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OTLPDecodeError(f"body is not a protobuf ExportTraceServiceRequest: {exc}") from None
    elif content_type == JSON:
        request = _parse_json(body)
    else:
        raise OTLPDecodeError(f"content type {content_type!r} is not {PROTOBUF} or {JSON}")
    if max_spans is not None:
        count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if count > max_spans:
            raise TooManySpans(f"the request holds {count} spans, more than the {max_spans} taken at once; "
                               "send smaller batches (Collector: batch processor send_batch_max_size)")
    return _convert(request)


def _parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OTLPDecodeError(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OTLPDecodeError("body is JSON but not an object with resourceSpans")
    try:
        for resource_spans in _list(data.get("resourceSpans")):
            for scope_spans in _list(_dict(resource_spans).get("scopeSpans")):
                for span in _list(_dict(scope_spans).get("spans")):
                    _hex_ids_to_base64(_dict(span))
                    for link in _list(_dict(span).get("links")):
                        _hex_ids_to_base64(_dict(link))
        return json_format.ParseDict(data, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise OTLPDecodeError(f"body is not an OTLP JSON ExportTraceServiceRequest: {exc}") from None


def _hex_ids_to_base64(obj: dict[str, Any]) -> None:
    """OTLP JSON writes ids in hex; protobuf's JSON mapping expects base64."""
    for key in _HEX_ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                raise OTLPDecodeError(f"{key} {value[:40]!r} is not hex") from None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OTLPDecodeError(f"expected a list, got {type(value).__name__}")
    return value


def _dict(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OTLPDecodeError(f"expected an object, got {type(value).__name__}")
    return value


def _convert(request: ExportTraceServiceRequest) -> Decoded:
    out = Decoded()
    for span_or_error in convert_each(request):
        if isinstance(span_or_error, ValueError):
            out.rejected += 1
            if len(out.errors) < 10:
                out.errors.append(str(span_or_error))
        else:
            out.spans.append(span_or_error)
    return out


def convert_each(request: ExportTraceServiceRequest) -> Iterator[ReadableSpan | ValueError]:
    """Every span of ``request`` in order, as a ``ReadableSpan`` or the ``ValueError`` that refused it."""
    for resource_spans in request.resource_spans:
        resource = Resource(_attributes(resource_spans.resource.attributes))
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
    end = max(start, int(span.end_time_unix_nano))  # a span that ends before it starts lasts 0 ms, on every path
    return ReadableSpan(
        name=span.name or "unnamed",
        context=SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED)),
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=[Event(e.name, _attributes(e.attributes), int(e.time_unix_nano)) for e in span.events],
        links=[Link(SpanContext(_id(lk.trace_id, 16, "link trace_id"), _id(lk.span_id, 8, "link span_id"), True),
                    _attributes(lk.attributes)) for lk in span.links],  # fmt: skip
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


def _attributes(pairs: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value, 0) for kv in pairs if isinstance(kv, KeyValue)}


def _value(value: AnyValue, depth: int) -> Any:
    """An OTLP AnyValue as an OTel attribute value (str, bool, int, float or a list of one of them)."""
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        items = [_plain(v, depth + 1) for v in value.array_value.values]
        if all(type(i) is type(items[0]) and isinstance(i, (str, bool, int, float)) for i in items):
            return tuple(items)  # a tuple, as the SDK holds arrays: one mapping whichever way a span came
        return json.dumps(items, default=str)
    if kind == "kvlist_value":
        return json.dumps({kv.key: _plain(kv.value, depth + 1) for kv in value.kvlist_value.values}, default=str)
    return ""


def _plain(value: AnyValue, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return "[nested too deep]"
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_plain(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return getattr(value, kind) if kind else None


