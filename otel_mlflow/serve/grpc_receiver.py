"""OTLP/gRPC (``opentelemetry.proto.collector.trace.v1.TraceService/Export``, and ``logs.v1.LogsService/Export``
for GenAI events sent as log records) for ``otel-mlflow receive``.

Usage::

    grpc_receiver = GrpcReceiver(intake).start()     # intake.settings.host : intake.settings.grpc_port
    grpc_receiver.port                               # the bound port (0 in the settings: a free one)
    grpc_receiver.stop()

The same token (``authorization: Bearer <token>`` metadata), bounds and spool as OTLP/HTTP, answered with the
status codes the OTLP specification gives: UNAUTHENTICATED, INVALID_ARGUMENT with the reason (a bad or too large
request: not retryable), UNAVAILABLE with ``RetryInfo`` when the spool has no room or the receiver is at
:data:`CONCURRENT_RPCS` exports (retryable: a Collector retries it, while it drops RESOURCE_EXHAUSTED without
``RetryInfo``), and OTLP partial success for spans refused one by one. gzip requests are decompressed by gRPC,
within the message size bound (``OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES``).

The method is served as a stream of requests (one, from any unary client: the wire format is the same), so that
the token and the load are checked before the message is read: a client without the token, or one past the
bound, costs its headers, not its 16 MiB. The message is parsed here, not by gRPC, so a malformed one gets its
reason (gRPC's own parser answers INTERNAL "Exception deserializing request!").
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent import futures
from typing import Any, NoReturn

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_mlflow.serve.intake import FULL, RETRY_AFTER_SECONDS, Intake, Refused
from otel_mlflow.serve.otlp_request import LOGS, PROTOBUF, TRACES, decode_request

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
CONCURRENT_RPCS = 64
"""Exports handled at once; one more is answered UNAVAILABLE with RetryInfo before its message is read."""
WORKER_THREADS = CONCURRENT_RPCS + 16
"""More threads than handled exports, so that the ones past the bound get their quick answer; past these, calls
wait in gRPC's queue (their messages unread) until a thread is free."""
_STATUS_DETAILS = "grpc-status-details-bin"


class GrpcReceiver:
    """A grpcio server for the trace service on ``settings.host:settings.grpc_port``."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        settings = intake.settings
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="otel-mlflow-grpc"),
            options=[("grpc.max_receive_message_length", settings.max_body_bytes), ("grpc.so_reuseport", 0)],
        )
        slots = threading.BoundedSemaphore(CONCURRENT_RPCS)  # shared by both services
        handlers = []
        for service, signal, response in (
            (SERVICE, TRACES, ExportTraceServiceResponse),
            (LOGS_SERVICE, LOGS, ExportLogsServiceResponse),
        ):
            export = grpc.stream_unary_rpc_method_handler(
                _Export(intake, signal, slots),
                request_deserializer=None,
                response_serializer=response.SerializeToString,
            )
            handlers.append(grpc.method_handlers_generic_handler(service, {"Export": export}))
        self.server.add_generic_rpc_handlers(tuple(handlers))
        address = f"{settings.host}:{settings.grpc_port}"
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError as exc:  # grpcio raises RuntimeError when it cannot bind
            raise OSError(f"cannot listen for OTLP/gRPC on {address}: {exc}") from None
        self.host = settings.host

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> GrpcReceiver:
        self.server.start()
        return self

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop taking calls; calls under way get ``grace_seconds`` to finish."""
        self.server.stop(grace_seconds).wait()


class _Export:
    """``Export``: checks before reading, then one message's bytes through the intake."""

    def __init__(self, intake: Intake, signal: str, slots: threading.BoundedSemaphore) -> None:
        self.intake, self.signal, self._slots = intake, signal, slots

    def __call__(self, messages: Iterator[bytes], context: grpc.ServicerContext) -> Any:
        intake = self.intake
        intake.count("requests")
        metadata = {key.lower(): value for key, value in context.invocation_metadata() if isinstance(value, str)}
        if not intake.authorized(metadata.get("authorization")):
            intake.refuse("unauthenticated", "missing or wrong bearer token")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if not self._slots.acquire(blocking=False):
            _abort(context, intake.refuse(FULL, f"the receiver handles {CONCURRENT_RPCS} exports at once; retry"))
        try:
            body = next(messages, None)
            if body is None or next(messages, None) is not None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "send exactly one export request")
            message = bytes(body or b"")
            try:
                decoded = intake.take(lambda: decode_request(message, PROTOBUF, intake.settings.max_spans, self.signal))
            except Refused as refused:
                _abort(context, refused)
            return decoded.response()
        finally:
            self._slots.release()


def _abort(context: Any, refused: Refused) -> NoReturn:
    if refused.kind == FULL:  # retryable: UNAVAILABLE, with how long to wait (OTLP's backpressure signal)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_SECONDS))
        status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(refused))
        status.details.add().Pack(retry)
        context.set_trailing_metadata(((_STATUS_DETAILS, status.SerializeToString()),))
        context.abort(grpc.StatusCode.UNAVAILABLE, str(refused))
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(refused))  # bad or too large: retrying cannot help
    raise AssertionError("context.abort raises")  # pragma: no cover
