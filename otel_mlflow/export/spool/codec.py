"""Spans to spool bytes and back: the OTLP protobuf encoding the OTLP exporters use, not a format of ours.

Usage::

    blob, positions = encode_batch(spans)   # positions[i]: where spans[i] sits in the encoded request
    decoded = decode_batch(blob)            # decoded[positions[i]] is spans[i] again (or None)

The OTLP encoder groups spans by resource and scope, so their order changes: ``positions`` maps them.
A span the encoder cannot take (an SDK span never is one) raises :class:`EncodeError`; the caller keeps
it in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.export.spool.otlp_spans import convert_each


class EncodeError(ValueError):
    """These spans cannot be written as OTLP protobuf (no context, an attribute the encoder refuses)."""


def encode_batch(spans: Sequence[ReadableSpan]) -> tuple[bytes, list[int]]:
    """One ``ExportTraceServiceRequest`` holding ``spans``, and each span's position inside it."""
    try:
        request = encode_spans(spans)
    except Exception as exc:
        raise EncodeError(f"{type(exc).__name__}: {exc}") from exc
    where: dict[tuple[bytes, bytes], list[int]] = {}
    index = 0
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                where.setdefault((span.trace_id, span.span_id), []).append(index)
                index += 1
    positions = []
    for span in spans:
        context = span.context
        if context is None:
            raise EncodeError(f"span {span.name!r} has no context")
        slots = where.get((context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big")))
        if not slots:
            raise EncodeError(f"span {span.name!r} is missing from its encoding")
        positions.append(slots.pop(0))
    return request.SerializeToString(), positions


def decode_batch(blob: bytes) -> list[ReadableSpan | None]:
    """The spans of an encoded batch in encoded order; ``None`` where a span cannot be rebuilt."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(blob)
    return [None if isinstance(item, ValueError) else item for item in convert_each(request)]
