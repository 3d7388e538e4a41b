"""OTLP/HTTP as a minimal ASGI app: ``POST /v1/traces``, ``POST /v1/logs`` and ``GET /health``, served by
uvicorn (:mod:`.receiver`).

Answers, per the OTLP/HTTP specification, in the request's content type (protobuf ``google.rpc.Status`` or its
JSON form): 200 with an ``ExportTraceServiceResponse`` (``partial_success`` counts spans refused one by one);
400 for a body that is not an OTLP request, with the reason; 401 for a missing or wrong bearer token; 405 for
another method; 408 for a body not received within ``read_timeout``; 413 past the body bound; 415 for another
content type or encoding; 503 with ``Retry-After`` when the spool has no room for the request, when the
connection is past the cap, or when request bodies in memory are at their bound (all retryable).

Everything that can be refused before the body is read is (path, token, content type, encoding, declared
length), answered without reading the body and without ``100 Continue``, then the connection
is closed. A body is read chunk by chunk (chunked or sized), counted against its bound and against the bytes
all bodies may hold at once, within one deadline from its first byte to its last. Decoding and spooling go
through the shared :class:`~otel_mlflow.serve.intake.Intake`: on the event loop for a small body when a decoding
slot is free at once, else on a worker thread, so the loop never waits for a slot or a large decode.

Usage::

    app = OTLPHttpApp(intake, guard)     # an ASGI 3 app
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from otel_mlflow.scrub import get_logger
from otel_mlflow.serve.connection_guard import ConnectionGuard
from otel_mlflow.serve.intake import DECODING_AT_ONCE, FULL, RETRY_AFTER_SECONDS, TOO_LARGE, Intake, Refused
from otel_mlflow.serve.otlp_request import (
    JSON,
    LOGS,
    PROTOBUF,
    TRACES,
    BodyTooLarge,
    Decoded,
    UnsupportedEncoding,
    check_encoding,
    decode_request,
    decompress,
)

_logger = get_logger(__name__)
TRACES_PATH, LOGS_PATH = "/v1/traces", "/v1/logs"
SIGNALS = {TRACES_PATH: TRACES, LOGS_PATH: LOGS}
"""``/v1/logs`` takes GenAI events sent as log records (``event_only`` mode): see :mod:`.otlp_request`."""
NOT_FOUND = b"not found; OTLP traces go to POST /v1/traces, GenAI events as logs to POST /v1/logs"
HEALTH_PATH = "/health"
INLINE_BODY_BYTES = 64 << 10
"""Bodies up to this size are decoded and spooled on the event loop (well under a millisecond); larger ones on a
worker thread, so that the loop keeps answering other connections meanwhile."""
BODIES_IN_MEMORY = 4
"""Request bodies (of the largest allowed size) held at once while they arrive or wait for decoding."""
_Send = Callable[[dict[str, Any]], Awaitable[None]]
_Receive = Callable[[], Awaitable[dict[str, Any]]]


class _Answer(Exception):
    """Stop handling the request and answer it so (raised from anywhere below the handler)."""

    def __init__(
        self,
        status: int,
        message: str,
        rpc_code: int = code_pb2.INVALID_ARGUMENT,
        headers: dict[str, str] | None = None,
        close: bool = False,
        counted: bool = False,
    ) -> None:
        super().__init__(message)
        self.status, self.rpc_code, self.headers, self.close = status, rpc_code, headers or {}, close
        self.counted = counted
        """Already counted and logged as a refusal (by the intake)."""


def _retry_later(message: str, close: bool = False, counted: bool = False) -> _Answer:
    return _Answer(503, message, code_pb2.UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)}, close, counted)


class OTLPHttpApp:
    """The ASGI app; one per receiver. ``close()`` stops its worker threads."""

    def __init__(self, intake: Intake, guard: ConnectionGuard) -> None:
        self.intake = intake
        self.guard = guard
        self.settings = intake.settings
        self._executor = ThreadPoolExecutor(max_workers=DECODING_AT_ONCE, thread_name_prefix="otel-mlflow-http")
        self._memory_left = BODIES_IN_MEMORY * self.settings.max_body_bytes

    @property
    def stats(self) -> dict[str, int]:
        """Requests, accepted and rejected spans, refused requests (every transport of the intake), connections."""
        return {**self.intake.stats, **self.guard.stats, "connections_open": self.guard.open_connections}

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def __call__(self, scope: dict[str, Any], receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            return
        self.guard.request_started(scope.get("client"))
        try:
            headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
            if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
                await self._health(send)
            elif scope["path"] not in SIGNALS:
                await _send(send, 404, "text/plain", NOT_FOUND, close=True)
            elif scope["method"] != "POST":
                await _send(send, 405, "text/plain", b"use POST", {"Allow": "POST"}, close=True)
            else:
                await self._export(headers, receive, send, SIGNALS[scope["path"]])
        finally:
            self.guard.request_finished(scope.get("client"))

    async def _health(self, send: _Send) -> None:
        """200 while the receiver can take requests; 503 once its spool is off after a disk failure (it then refuses
        every request: restarting it, on a working disk, is the fix)."""
        exporter = self.intake.exporter
        room = await asyncio.get_running_loop().run_in_executor(None, exporter.room)
        spooling = exporter.spooling or not exporter.config.spool
        lag = dataclasses.asdict(exporter.lag())  # how far behind MLflow is: runs, traces waiting, sampled out
        body = {"status": "ok" if spooling else "spool off: restart on a writable disk", "room": room, "lag": lag}
        body.update(self.stats)
        await _send(send, 200 if spooling else 503, JSON, json.dumps(body).encode())

    async def _export(self, headers: dict[str, str], receive: _Receive, send: _Send, signal: str) -> None:
        self.intake.count("requests")
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        reply_as = media if media in (PROTOBUF, JSON) else JSON
        try:
            decoded = await self._take(headers, media, receive, signal)
        except Exception as error:
            answer = (
                error
                if isinstance(error, _Answer)
                else _Answer(500, "the receiver failed; see its log", code_pb2.INTERNAL, close=True)
            )
            if not isinstance(error, _Answer):
                _logger.exception("otel-mlflow receiver could not handle a request")
            if not answer.counted:
                self.intake.refuse(str(answer.status), str(answer))
            await _send_status(send, answer, reply_as)
            return
        response = decoded.response()
        if reply_as == PROTOBUF:
            await _send(send, 200, PROTOBUF, response.SerializeToString())
        else:  # OTLP/JSON: protobuf's JSON mapping (int64 counts as strings)
            await _send(send, 200, JSON, json.dumps(json_format.MessageToDict(response)).encode())

    async def _take(self, headers: dict[str, str], media: str, receive: _Receive, signal: str) -> Decoded:
        """Check what can be checked before the body, read it, decode and spool it; raises :class:`_Answer`."""
        limit = self.settings.max_body_bytes
        if not self.intake.authorized(headers.get("authorization")):
            raise _Answer(
                401,
                "missing or wrong bearer token",
                code_pb2.UNAUTHENTICATED,
                {"WWW-Authenticate": "Bearer"},
                close=True,
            )
        if media not in (PROTOBUF, JSON):
            raise _Answer(415, f"Content-Type must be {PROTOBUF} or {JSON}, not {media or 'missing'!r}", close=True)
        try:
            encoding = check_encoding(headers.get("content-encoding"))
        except UnsupportedEncoding as exc:
            raise _Answer(415, str(exc), close=True) from None
        declared = headers.get("content-length")
        if declared is not None and (not declared.strip().isdigit() or int(declared) > limit):
            raise _Answer(
                413 if declared.strip().isdigit() else 400,
                f"body of {declared} bytes is over the limit of {limit}",
                close=True,
            )
        body = await self._read_body(receive)
        try:

            def decode() -> Decoded:
                return decode_request(decompress(body, encoding, limit), media, self.settings.max_spans, signal)

            # a small request is handled here (a hop to a worker thread and back costs more than its work);
            # a large one, or any while the decoding slots are taken, on a worker thread
            taken = self.intake.try_take(decode) if len(body) <= INLINE_BODY_BYTES else None
            if taken is not None:
                return taken
            return await asyncio.get_running_loop().run_in_executor(self._executor, self.intake.take, decode)
        except BodyTooLarge as exc:
            raise _Answer(413, str(exc)) from None
        except Refused as refused:  # counted and logged by the intake
            if refused.kind == FULL:
                raise _retry_later(str(refused), counted=True) from None
            raise _Answer(413 if refused.kind == TOO_LARGE else 400, str(refused), counted=True) from None
        finally:
            self._memory_left += len(body)

    async def _read_body(self, receive: _Receive) -> bytes:
        """The whole body, within ``read_timeout``, its bound and the memory left for bodies (held on return)."""
        limit, held, chunks = self.settings.max_body_bytes, 0, []

        async def read() -> None:
            nonlocal held
            while True:
                message = await receive()  # the first call sends "100 Continue" to a client waiting for it
                if message["type"] == "http.disconnect":
                    raise _Answer(400, "the client closed the connection before the body ended", close=True)
                chunk = message.get("body", b"")
                if held + len(chunk) > limit:
                    raise _Answer(413, f"body is over the limit of {limit} bytes", close=True)
                if len(chunk) > self._memory_left:
                    raise _retry_later(
                        f"request bodies in memory are at their bound ({BODIES_IN_MEMORY} x "
                        "OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES)",
                        close=True,
                    )
                self._memory_left -= len(chunk)
                held += len(chunk)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return

        try:
            await asyncio.wait_for(read(), timeout=self.settings.read_timeout)
        except asyncio.TimeoutError:
            self._memory_left += held
            raise _Answer(
                408,
                f"the body did not arrive within {self.settings.read_timeout:g} s (OTEL_MLFLOW_RECEIVER_READ_TIMEOUT)",
                close=True,
            ) from None
        except _Answer:
            self._memory_left += held
            raise
        return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def _send_status(send: _Send, answer: _Answer, reply_as: str) -> None:
    if reply_as == PROTOBUF:
        body = status_pb2.Status(code=answer.rpc_code, message=str(answer)).SerializeToString()
    else:
        body = json.dumps({"code": answer.rpc_code, "message": str(answer)}).encode()
    await _send(send, answer.status, reply_as, body, answer.headers, answer.close)


async def _send(
    send: _Send, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None, close: bool = False
) -> None:
    """One whole response; ``close`` ends the connection after it (the request's body may be unread)."""
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw += [(key.lower().encode(), value.encode()) for key, value in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
