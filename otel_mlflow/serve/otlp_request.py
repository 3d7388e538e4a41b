"""Decode OTLP trace and log requests (HTTP protobuf or JSON bodies, or gRPC messages) into SDK ``ReadableSpan``
objects: a log record that is a GenAI event of a span becomes an event span (:mod:`otel_mlflow.mapping.log_events`),
spooled with the spans and folded into its span before mapping; other log records are refused one by one.

The receiver hands the result to the same ``MLflowSpanExporter`` the in-process path uses, so one
mapping serves both. Usage::

    decoded = decode_request(body, content_type="application/x-protobuf")
    decoded.spans            # list[ReadableSpan]
    decoded.rejected         # spans refused (bad ids), for OTLP partial success
    decoded.errors           # why, one line each
    decode_request(body, content_type, signal=LOGS)   # an ExportLogsServiceRequest

A body that is not a valid OTLP request raises :class:`OTLPDecodeError` with the reason. ``decompress`` undoes
a ``Content-Encoding`` first (gzip, deflate) within the body size bound.
"""

from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.spool.otlp_spans import attribute_values, convert_each, plain_value
from otel_mlflow.mapping.log_events import event_span, is_genai_event, record_fields

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
ENCODINGS = ("identity", "gzip", "deflate")
TRACES, LOGS = "traces", "logs"
_HEX_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
NOT_AN_EVENT = (
    "{n} log record(s) are no GenAI event of a span (an event name gen_ai.*, with trace and span ids): otel-mlflow "
    "keeps those only; send other logs to a log backend"
)
_INVALID_ID = base64.b64encode(b"\x00").decode("ascii")


class OTLPDecodeError(ValueError):
    """The body is not an OTLP ExportTraceServiceRequest; the message says why."""


class TooManySpans(ValueError):
    """The request holds more spans than the receiver takes at once (checked before any span is built)."""


class BodyTooLarge(ValueError):
    """The body, decompressed, is over the receiver's size bound."""


class UnsupportedEncoding(ValueError):
    """A ``Content-Encoding`` other than gzip, deflate or identity."""


@dataclass
class Decoded:
    spans: list[ReadableSpan] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    signal: str = TRACES
    """``logs``: ``spans`` are the event spans of log records, ``rejected`` counts log records."""

    def response(self) -> ExportTraceServiceResponse | ExportLogsServiceResponse:
        """The OTLP answer to a request taken: partial success when spans (records) were refused one by one."""
        if self.signal == LOGS:
            logs = ExportLogsServiceResponse()
            if self.rejected:
                logs.partial_success.CopyFrom(
                    ExportLogsPartialSuccess(rejected_log_records=self.rejected, error_message="; ".join(self.errors))
                )
            return logs
        response = ExportTraceServiceResponse()
        if self.rejected:
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=self.rejected, error_message="; ".join(self.errors))
            )
        return response


def decode_request(body: bytes, content_type: str, max_spans: int | None = None, signal: str = TRACES) -> Decoded:
    """Parse ``body`` as ``content_type`` (protobuf or JSON) and convert every valid span (``signal`` logs: every
    GenAI event record).

    With ``max_spans``, a request holding more spans raises :class:`TooManySpans` after parsing and
    before any ``ReadableSpan`` is built (those cost ~1 KB each, many times a tiny span's bytes)."""
    request: Any = ExportLogsServiceRequest() if signal == LOGS else ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError) as exc:
            raise OTLPDecodeError(f"body is not a protobuf {type(request).__name__}: {exc}") from None
    elif content_type == JSON:
        request, notes = _parse_json(body, request)
        decoded = decode_message(request, max_spans)
        decoded.errors[:0] = notes[: max(0, 10 - len(decoded.errors))]  # why those spans were refused, first
        return decoded
    else:
        raise OTLPDecodeError(f"content type {content_type!r} is not {PROTOBUF} or {JSON}")
    return decode_message(request, max_spans)


def decode_message(
    request: ExportTraceServiceRequest | ExportLogsServiceRequest, max_spans: int | None = None
) -> Decoded:
    """Convert a parsed request (OTLP/gRPC hands one over) the same way; :class:`TooManySpans` as above."""
    logs = isinstance(request, ExportLogsServiceRequest)
    if max_spans is not None:
        if logs:
            count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
        else:
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        if count > max_spans:
            raise TooManySpans(
                f"the request holds {count} {'log records' if logs else 'spans'}, more than the {max_spans} taken at "
                "once; send smaller batches (Collector: batch processor send_batch_max_size)"
            )
    return _convert_logs(request) if isinstance(request, ExportLogsServiceRequest) else _convert(request)


def _parse_json(body: bytes, request: Any) -> tuple[Any, list[str]]:
    """The request, and why spans (records) with ids that are not hex will be refused (each alone: partial success)."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise OTLPDecodeError(f"body is not JSON: {exc}") from None
    logs = isinstance(request, ExportLogsServiceRequest)
    if not isinstance(data, dict):
        raise OTLPDecodeError(f"body is JSON but not an object with {'resourceLogs' if logs else 'resourceSpans'}")
    notes: list[str] = []
    outer, inner, items = (
        ("resourceLogs", "scopeLogs", "logRecords") if logs else ("resourceSpans", "scopeSpans", "spans")
    )
    try:
        for resource in _list(data.get(outer)):
            for scope in _list(_dict(resource).get(inner)):
                for item in _list(_dict(scope).get(items)):
                    _hex_ids_to_base64(_dict(item), notes)
                    for link in _list(_dict(item).get("links")):
                        _hex_ids_to_base64(_dict(link), notes)
        return json_format.ParseDict(data, request, ignore_unknown_fields=True), notes
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise OTLPDecodeError(f"body is not an OTLP JSON {type(request).__name__}: {exc}") from None


def _hex_ids_to_base64(obj: dict[str, Any], notes: list[str]) -> None:
    """OTLP JSON writes ids in hex (the specification); protobuf's JSON mapping expects base64, which some
    senders use, so an id of the right length in base64 is taken too. Any other id becomes one zero byte (a parent
    id too: emptied, the span would pass for a root), so its span alone is refused (with this note) and the
    request's other spans are taken."""
    for key in _HEX_ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
            except ValueError:
                if not _is_base64_id(value, 16 if key == "traceId" else 8):
                    obj[key] = _INVALID_ID
                    notes.append(f"{key} {value[:40]!r} is not hex")


def _is_base64_id(value: str, size: int) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == size
    except ValueError:
        return False


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


def _convert_logs(request: ExportLogsServiceRequest) -> Decoded:
    out = Decoded(signal=LOGS)
    for resource_logs in request.resource_logs:
        resource = Resource(attribute_values(resource_logs.resource.attributes))
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                attributes = {kv.key: plain_value(kv.value) for kv in record.attributes}
                name = record.event_name or str(attributes.pop("event.name", "") or "")
                trace_id = int.from_bytes(record.trace_id, "big") if len(record.trace_id) == 16 else 0
                span_id = int.from_bytes(record.span_id, "big") if len(record.span_id) == 8 else 0
                if not is_genai_event(name, trace_id, span_id):
                    out.rejected += 1
                    continue
                fields = record_fields(attributes, plain_value(record.body) if record.HasField("body") else None)
                time_ns = record.time_unix_nano or record.observed_time_unix_nano
                out.spans.append(event_span(trace_id, span_id, name, fields, time_ns, resource))
    if out.rejected:
        out.errors.append(NOT_AN_EVENT.format(n=out.rejected))
    return out


def check_encoding(encoding: str | None) -> str:
    """The encoding's normal name; :class:`UnsupportedEncoding` (answered 415) for one not taken."""
    name = (encoding or "identity").strip().lower()
    if name not in ENCODINGS:
        raise UnsupportedEncoding(f"Content-Encoding {name!r} is not supported; use gzip, deflate or none")
    return name


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate with a cap on the decompressed size (a small bomb cannot fill memory)."""
    name = check_encoding(encoding)
    if name == "identity":
        return body
    decompressor = zlib.decompressobj(wbits=31 if name == "gzip" else 15)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OTLPDecodeError(f"body is not valid {name}: {exc}") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise BodyTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not decompressor.eof:
        raise OTLPDecodeError(f"body is a truncated {name} stream")
    return out
