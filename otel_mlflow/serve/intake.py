"""What every OTLP transport does with one request once it is read: check the token, bound and decode it,
spool it whole through the exporter or refuse it whole, and count. HTTP (:mod:`.receiver`) and gRPC
(:mod:`.grpc_receiver`) only translate the outcome into their own status codes.

Usage::

    intake = Intake(exporter, settings)
    if not intake.authorized(authorization_header):
        ...                                           # 401 / UNAUTHENTICATED
    try:
        decoded = intake.take(lambda: decode_request(body, media, intake.settings.max_spans))
    except Refused as refused:
        refused.kind                                  # "invalid", "too_large", "full"
    decoded.rejected, decoded.errors                  # OTLP partial success
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable

from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow.config import ReceiverSettings
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.scrub import get_logger
from otel_mlflow.serve.otlp_request import LOGS, Decoded, OTLPDecodeError, TooManySpans

_logger = get_logger(__name__)
DECODING_AT_ONCE = 2
"""Requests decoded at the same time, over every transport: each costs up to its body's size several times
over while decoding."""
RETRY_AFTER_SECONDS = 5
"""What a refused-for-room request is told to wait (HTTP ``Retry-After``, gRPC ``RetryInfo``)."""
INVALID, TOO_LARGE, FULL = "invalid", "too_large", "full"


class Refused(Exception):
    """The request is refused whole; ``kind`` is one of ``invalid``, ``too_large``, ``full``."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Intake:
    """Shared by the receiver's transports; thread-safe."""

    def __init__(self, exporter: MLflowSpanExporter, settings: ReceiverSettings) -> None:
        self.exporter = exporter
        self.settings = settings
        self.stats = {"requests": 0, "accepted_spans": 0, "rejected_spans": 0, "refused_requests": 0}
        self.stats.update(accepted_log_records=0, rejected_log_records=0)
        self._lock = threading.Lock()
        self._decoding = threading.BoundedSemaphore(DECODING_AT_ONCE)

    def authorized(self, authorization: str | None) -> bool:
        """True without a configured token, else for ``Bearer <token>`` (compared in constant time)."""
        token = self.settings.token
        if not token:
            return True
        scheme, _, value = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())

    def take(self, decode: Callable[[], Decoded]) -> Decoded:
        """Decode (at most :data:`DECODING_AT_ONCE` at a time) and spool the request's valid spans in one
        transaction; raises :class:`Refused`. Returns what was taken, with the spans refused one by one.
        (The transport counts the request itself, ``count("requests")``, when it arrives.)"""
        with self._decoding:
            return self._decode_and_spool(decode)

    def try_take(self, decode: Callable[[], Decoded]) -> Decoded | None:
        """:meth:`take` if a decoding slot is free now, else None at once (nothing done): for a caller that must
        not block, such as an event loop handling a small request itself."""
        if not self._decoding.acquire(blocking=False):
            return None
        try:
            return self._decode_and_spool(decode)
        finally:
            self._decoding.release()

    def _decode_and_spool(self, decode: Callable[[], Decoded]) -> Decoded:
        try:
            decoded = decode()
        except TooManySpans as exc:
            raise self.refuse(TOO_LARGE, str(exc)) from None
        except OTLPDecodeError as exc:
            raise self.refuse(INVALID, str(exc)) from None
        # the request's spans are spooled in one transaction, or all refused: taken means on disk (never memory
        # only while the spool's disk fails: the sender keeps them and retries)
        if decoded.spans and self.exporter.export_durably(decoded.spans) is not SpanExportResult.SUCCESS:
            why = (
                f"the request's {len(decoded.spans)} spans exceed the free spool space (OTEL_MLFLOW_SPOOL_MAX_BYTES)"
                if self.exporter.spooling or not self.exporter.config.spool
                else "the receiver cannot write its spool now (see its log)"
            )
            raise self.refuse(FULL, f"{why}; retry in {RETRY_AFTER_SECONDS} s")
        unit = "log_records" if decoded.signal == LOGS else "spans"  # a log record's event span stands for it
        self.count(f"accepted_{unit}", len(decoded.spans))
        self.count(f"rejected_{unit}", decoded.rejected)
        return decoded

    def refuse(self, kind: str, message: str) -> Refused:
        """Count and log a refusal; the transport answers it."""
        self.count("refused_requests")
        _logger.info("otel-mlflow receiver refused a request (%s): %s", kind, message)
        return Refused(kind, message)

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n
