"""``otel-mlflow receive``: an OTLP/HTTP trace receiver that writes through ``MLflowSpanExporter``.

Put it behind an OpenTelemetry Collector (``otlphttp`` exporter, ``endpoint: http://<host>:4319``)::

    otel-mlflow receive                       # 127.0.0.1:4319, POST /v1/traces, GET /health
    otel-mlflow receive --host 0.0.0.0 --token "$OTEL_MLFLOW_RECEIVER_TOKEN"

Accepts protobuf and JSON bodies, gzip or deflate encoded. Answers, per the OTLP/HTTP spec:
200 with an ``ExportTraceServiceResponse`` (``partial_success`` counts spans refused for bad ids);
400 for a body that is not an OTLP request (with the reason); 401 for a missing or wrong bearer token;
411 without Content-Length; 413 past the body limit; 415 for another content type or encoding;
503 with ``Retry-After`` when the exporter's spool is full, so the Collector retries instead of dropping.
A 200 is sent only once every span of the request is in the exporter's durable spool (see
:mod:`otel_mlflow.export.exporter`): a request is taken whole or refused whole, never half.

Memory is bounded before decoding: the body size (16 MiB), the spans in one request (413 past
``OTEL_MLFLOW_RECEIVER_MAX_SPANS``, checked before any span object is built), and at most
:data:`~otel_mlflow.serve.intake.DECODING_AT_ONCE` requests decoded at a time, over HTTP and gRPC together
(:mod:`.intake`, shared with :mod:`.grpc_receiver`); what waits for MLflow is on disk (the exporter's spool).

Environment: ``OTEL_MLFLOW_RECEIVER_HOST`` (127.0.0.1), ``OTEL_MLFLOW_RECEIVER_PORT`` (4319),
``OTEL_MLFLOW_RECEIVER_TOKEN`` (unset: no auth), ``OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES`` (16 MiB),
``OTEL_MLFLOW_RECEIVER_MAX_SPANS`` (50,000), and every exporter setting of :mod:`otel_mlflow.config`.
"""

from __future__ import annotations

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceResponse,
)
from otel_mlflow.config import ReceiverSettings
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.serve.intake import FULL, RETRY_AFTER_SECONDS, TOO_LARGE, Intake, Refused
from otel_mlflow.serve.otlp_request import JSON, PROTOBUF, OTLPDecodeError, decode_request
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
TRACES_PATH = "/v1/traces"
HEALTH_PATH = "/health"
_RPC_INVALID_ARGUMENT, _RPC_UNAVAILABLE, _RPC_UNAUTHENTICATED = 3, 14, 16


class Receiver:
    """The HTTP server; ``start()`` serves on a thread, ``serve_forever()`` on the caller's."""

    def __init__(self, settings: ReceiverSettings, exporter: MLflowSpanExporter) -> None:
        self.settings = settings
        self.exporter = exporter
        self.intake = Intake(exporter, settings)
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = ThreadingHTTPServer((settings.host, settings.port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self.server.serve_forever, name="otel-mlflow-receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self, flush: bool = True) -> None:
        """Stop accepting requests, then (by default) write everything accepted to MLflow."""
        self.server.shutdown()
        self.server.server_close()
        if flush:
            self.exporter.shutdown()

    @property
    def stats(self) -> dict[str, int]:
        """Requests, accepted and rejected spans, refused requests (every transport of this intake)."""
        return self.intake.stats


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True  # headers and body go in two writes: without this, 40 ms per answer

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.split("?")[0] != HEALTH_PATH:
            self._plain(404, "not found")
            return
        body = {"status": "ok", "room": self.receiver.exporter.room(), **self.receiver.stats}
        self._send(200, "application/json", json.dumps(body).encode())

    def do_POST(self) -> None:  # noqa: N802
        intake = self.receiver.intake
        intake.count("requests")
        if self.path.split("?")[0] != TRACES_PATH:
            self._drain_and_refuse(404, "only POST /v1/traces is served here")
            return
        media = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        reply_as = media if media in (PROTOBUF, JSON) else JSON
        if not intake.authorized(self.headers.get("Authorization")):
            self._drain_and_refuse(401, "missing or wrong bearer token", reply_as, _RPC_UNAUTHENTICATED,
                                   {"WWW-Authenticate": "Bearer"})  # fmt: skip
            return
        if media not in (PROTOBUF, JSON):
            self._drain_and_refuse(415, f"Content-Type must be {PROTOBUF} or {JSON}, not {media or 'missing'!r}")
            return
        length = self._length()
        if length is None:
            return
        body = self.rfile.read(length)
        encoding = self.headers.get("Content-Encoding")
        try:
            decoded = intake.take(lambda: decode_request(_decompress(body, encoding, intake.settings.max_body_bytes),
                                                         media, intake.settings.max_spans))  # fmt: skip
        except _BodyTooLarge as exc:
            self._refuse(413, str(exc), reply_as)
        except _BadEncoding as exc:
            self._refuse(415, str(exc), reply_as)
        except Refused as refused:  # counted and logged by the intake
            if refused.kind == FULL:
                self._send_refusal(503, str(refused), reply_as, _RPC_UNAVAILABLE,
                                   {"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
            else:
                self._send_refusal(413 if refused.kind == TOO_LARGE else 400, str(refused), reply_as)
        else:
            self._accept(decoded.rejected, "; ".join(decoded.errors), reply_as)

    # --- helpers ------------------------------------------------------------------------------
    def _length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            self._refuse(411, "Content-Length is required", close=True)
            return None
        length = int(raw)
        if length > self.receiver.settings.max_body_bytes:
            self._refuse(413, f"body of {length} bytes is over the limit of {self.receiver.settings.max_body_bytes}",
                         close=True)  # fmt: skip
            return None
        return length

    def _drain_and_refuse(self, code: int, message: str, reply_as: str = JSON, rpc_code: int = _RPC_INVALID_ARGUMENT,
                          headers: dict[str, str] | None = None) -> None:  # fmt: skip
        raw = self.headers.get("Content-Length")
        if raw and raw.isdigit() and int(raw) <= self.receiver.settings.max_body_bytes:
            self.rfile.read(int(raw))
            self._refuse(code, message, reply_as, rpc_code, headers)
        else:
            self._refuse(code, message, reply_as, rpc_code, headers, close=True)

    def _accept(self, rejected: int, message: str, reply_as: str) -> None:
        response = ExportTraceServiceResponse()
        if rejected:
            response.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=message))
        if reply_as == PROTOBUF:
            self._send(200, PROTOBUF, response.SerializeToString())
        else:
            body: dict[str, Any] = {}
            if rejected:
                body["partialSuccess"] = {"rejectedSpans": str(rejected), "errorMessage": message}
            self._send(200, JSON, json.dumps(body).encode())

    def _refuse(self, code: int, message: str, reply_as: str = JSON, rpc_code: int = _RPC_INVALID_ARGUMENT,
                headers: dict[str, str] | None = None, close: bool = False) -> None:  # fmt: skip
        """A refusal decided here (before the intake): counted and logged, then answered."""
        self.receiver.intake.refuse(str(code), message)
        self._send_refusal(code, message, reply_as, rpc_code, headers, close)

    def _send_refusal(self, code: int, message: str, reply_as: str = JSON, rpc_code: int = _RPC_INVALID_ARGUMENT,
                      headers: dict[str, str] | None = None, close: bool = False) -> None:  # fmt: skip
        if reply_as == PROTOBUF:
            body = status_pb2.Status(code=rpc_code, message=message).SerializeToString()
        else:
            body = json.dumps({"code": rpc_code, "message": message}).encode()
        self._send(code, reply_as, body, headers, close)

    def _plain(self, code: int, message: str) -> None:
        self._send(code, "text/plain", message.encode())

    def _send(self, code: int, content_type: str, body: bytes, headers: dict[str, str] | None = None,
              close: bool = False) -> None:  # fmt: skip
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        _logger.debug("otel-mlflow receiver: %s", format % args)


class _BodyTooLarge(ValueError):
    pass


class _BadEncoding(ValueError):
    pass


def _decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate with a cap on the decompressed size (a small bomb cannot fill memory)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise _BadEncoding(f"Content-Encoding {encoding!r} is not supported; use gzip, deflate or none")
    decompressor = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        out = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise OTLPDecodeError(f"body is not valid {encoding}: {exc}") from None
    if len(out) > limit or decompressor.unconsumed_tail:
        raise _BodyTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not decompressor.eof:
        raise OTLPDecodeError(f"body is a truncated {encoding} stream")
    return out
