"""OTLP/gRPC (``opentelemetry.proto.collector.trace.v1.TraceService/Export``) for ``otel-mlflow receive``.

Usage::

    grpc_receiver = GrpcReceiver(intake).start()     # intake.settings.host : intake.settings.grpc_port
    grpc_receiver.port                               # the bound port (0 in the settings: a free one)
    grpc_receiver.stop()

The same token (``authorization: Bearer <token>`` metadata), bounds and spool as OTLP/HTTP, answered with the
status codes the OTLP specification gives: UNAUTHENTICATED, INVALID_ARGUMENT (a bad or too large request:
not retryable), UNAVAILABLE with ``RetryInfo`` when the spool has no room (retryable), and OTLP partial success
for spans refused one by one. gzip requests are decompressed by gRPC, within the message size bound
(``OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES``). gRPC's own server (grpcio) carries HTTP/2; at most
:data:`CONCURRENT_RPCS` exports run at once, more are answered RESOURCE_EXHAUSTED by gRPC itself.
"""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
from google.protobuf import duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otel_mlflow.serve.intake import FULL, RETRY_AFTER_SECONDS, Intake, Refused
from otel_mlflow.serve.otlp_request import decode_message

WORKER_THREADS = 8
CONCURRENT_RPCS = 64
_STATUS_DETAILS = "grpc-status-details-bin"


class GrpcReceiver:
    """A grpcio server for the trace service on ``settings.host:settings.grpc_port``."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        settings = intake.settings
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="otel-mlflow-grpc"),
            maximum_concurrent_rpcs=CONCURRENT_RPCS,
            options=[("grpc.max_receive_message_length", settings.max_body_bytes), ("grpc.so_reuseport", 0)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(intake), self.server)
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


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, intake: Intake) -> None:
        self.intake = intake

    def Export(self, request: ExportTraceServiceRequest, context: grpc.ServicerContext) -> ExportTraceServiceResponse:  # noqa: N802
        intake = self.intake
        intake.count("requests")
        metadata = {key.lower(): value for key, value in context.invocation_metadata() if isinstance(value, str)}
        if not intake.authorized(metadata.get("authorization")):
            intake.refuse("unauthenticated", "missing or wrong bearer token")
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            decoded = intake.take(lambda: decode_message(request, intake.settings.max_spans))
        except Refused as refused:
            _abort(context, refused)
        return decoded.response()


def _abort(context: Any, refused: Refused) -> None:
    if refused.kind == FULL:  # retryable: UNAVAILABLE, with how long to wait (OTLP's backpressure signal)
        retry = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=RETRY_AFTER_SECONDS))
        status = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(refused))
        status.details.add().Pack(retry)
        context.set_trailing_metadata(((_STATUS_DETAILS, status.SerializeToString()),))
        context.abort(grpc.StatusCode.UNAVAILABLE, str(refused))
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(refused))  # bad or too large: retrying cannot help
