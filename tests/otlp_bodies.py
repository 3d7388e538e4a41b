"""Real OTLP request bodies, made with the OTel SDK and the official OTLP encoder."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan


def protobuf_body(spans: Sequence[ReadableSpan]) -> bytes:
    return bytes(encode_spans(spans).SerializeToString())


def json_body(spans: Sequence[ReadableSpan]) -> bytes:
    """OTLP JSON: protobuf's JSON mapping, with ids in hex as the OTLP spec requires."""
    data = json_format.MessageToDict(encode_spans(spans))
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(data).encode()


def json_dict(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    return dict(json.loads(json_body(spans)))


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body)
