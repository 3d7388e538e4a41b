"""``RequestCaptureMiddleware``: puts a JSON request's question, parameters and answer on the server span.

A pure ASGI middleware that sits inside OpenTelemetry's server middleware, copies what the app reads and
writes (never changing it), and sets on the current span:

- ``otel_mlflow.question``: the request body field named by ``OTEL_MLFLOW_QUESTION_FIELDS`` (default
  ``question``), when content capture is on;
- ``otel_mlflow.param.<field>``: request fields named by ``OTEL_MLFLOW_PARAM_FIELDS`` (none unless named, e.g. ``k``);
- ``otel_mlflow.answer``: the response body field named by ``OTEL_MLFLOW_ANSWER_FIELDS`` (default
  ``answer``), when content capture is on;
- ``session.id`` / ``user.id`` (OpenTelemetry's keys; MLflow shows them as the trace's session and user): from
  the sources in ``OTEL_MLFLOW_SESSION_FROM`` / ``OTEL_MLFLOW_USER_FROM`` (default ``header:x-session-id,
  body:session_id`` and ``header:x-user-id,body:user_id``).

Bodies over 1 MiB, or not JSON, are passed through untouched and unread. When the app's lifespan ends,
the TracerProvider is shut down (spans flushed, serving windows closed) before the server is told the
shutdown is complete: forked workers (gunicorn + UvicornWorker) end without running ``atexit``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace

from otel_mlflow import attributes as A
from otel_mlflow.config import CaptureOptions
from otel_mlflow.instrumentation.llm_span import safely
from otel_mlflow.instrumentation.stopping import flush_before_stop

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 1 << 20
_SCOPE_MARK = "otel_mlflow.captured"


@dataclass
class _Body:
    parts: list[bytes] = field(default_factory=list)
    size: int = 0
    too_big: bool = False

    def add(self, chunk: bytes) -> None:
        if self.too_big:
            return
        self.size += len(chunk)
        if self.size > MAX_BODY_BYTES:
            self.too_big, self.parts = True, []
        else:
            self.parts.append(chunk)

    def json(self) -> Any:
        if self.too_big or not self.parts:
            return None
        try:
            return json.loads(b"".join(self.parts))
        except ValueError:
            return None


class RequestCaptureMiddleware:
    """ASGI middleware; see the module docstring. Adding it twice is harmless (the inner one passes).

    It reads only what it will record: the headers named as session/user sources, a JSON request body only
    when a question, param or identity field is read from it, a JSON response body only when the answer is
    captured; otherwise the app's ``receive`` and ``send`` are passed through untouched."""

    def __init__(self, app: ASGIApp, options: CaptureOptions | None = None) -> None:
        self.app = app
        self.options = options = options or CaptureOptions.from_env()
        owners = ((A.SESSION_ID, options.session_from), (A.USER_ID, options.user_from))
        self._identity = [
            (
                attribute,
                [
                    (kind, name.lower() if kind == "header" else name)
                    for kind, _, name in (source.partition(":") for source in sources)
                ],
            )
            for attribute, sources in owners
        ]
        sources = [source for _, parsed in self._identity for source in parsed]
        self._headers = frozenset(name.encode("latin-1") for kind, name in sources if kind == "header")
        self._reads_request = bool(
            (options.capture_content and options.question_fields)
            or options.param_fields
            or any(kind == "body" for kind, _ in sources)
        )
        self._reads_response = bool(options.capture_content and options.answer_fields)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await self.app(scope, receive, _flush_before_shutdown_complete(send))
            return
        span = trace.get_current_span()
        if kind != "http" or scope.get(_SCOPE_MARK) or not span.is_recording():
            await self.app(scope, receive, send)
            return
        scope[_SCOPE_MARK] = True
        headers: dict[str, str] = {}
        request_is_json = False
        for key, value in scope.get("headers", ()):
            key = key.lower()
            if key in self._headers:
                headers[key.decode("latin-1")] = value.decode("latin-1").strip()
            elif key == b"content-type":
                request_is_json = b"json" in value.lower()
        if headers:
            safely("read the session and user", self._on_identity, span, headers, None)
        reads_request = self._reads_request and request_is_json
        if not reads_request and not self._reads_response:
            await self.app(scope, receive, send)
            return
        request, response = _Body(), _Body()
        response_is_json = False

        async def receive_copy() -> Message:
            message = await receive()
            if message.get("type") == "http.request":
                request.add(message.get("body", b""))
                if not message.get("more_body", False):
                    body = request.json()
                    safely("read the request body", self._on_request, span, body)
                    safely("read the session and user", self._on_identity, span, headers, body)
            return message

        async def send_copy(message: Message) -> None:
            nonlocal response_is_json
            kind = message.get("type")
            if kind == "http.response.start":
                response_is_json = _is_json(message.get("headers", ()))
            elif kind == "http.response.body" and response_is_json:
                response.add(message.get("body", b""))
                if not message.get("more_body", False):
                    safely("read the response body", self._on_response, span, response.json())
            await send(message)

        await self.app(scope, receive_copy if reads_request else receive, send_copy if self._reads_response else send)

    def _on_identity(self, span: trace.Span, headers: dict[str, str], body: Any) -> None:
        """``session.id`` / ``user.id`` from the first of their sources that has one: headers as the request
        starts (``body`` None), body fields once it is read (a header earlier in the list still wins)."""
        for attribute, sources in self._identity:
            for kind, name in sources:
                if kind == "header" and headers.get(name):
                    if body is None:
                        span.set_attribute(attribute, headers[name])
                    break
                value = body.get(name) if kind == "body" and isinstance(body, dict) else None
                if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                    span.set_attribute(attribute, str(value).strip())
                    break

    def _on_request(self, span: trace.Span, body: Any) -> None:
        if not isinstance(body, dict):
            return
        if self.options.capture_content:
            question = _first(body, self.options.question_fields)
            if isinstance(question, str):
                span.set_attribute(A.QUESTION, question)
        for name in self.options.param_fields:
            value = body.get(name)
            if isinstance(value, (str, bool, int, float)):
                span.set_attribute(A.PARAM_PREFIX + name, value)

    def _on_response(self, span: trace.Span, body: Any) -> None:
        if not isinstance(body, dict):
            return
        answer = _first(body, self.options.answer_fields)
        if isinstance(answer, str):
            span.set_attribute(A.ANSWER, answer)


def _flush_before_shutdown_complete(send: Send) -> Send:
    """When the app's lifespan ends, shut the TracerProvider down (flushing every span and closing every
    serving window) before the server is told shutdown is complete. Servers that fork workers
    (gunicorn with UvicornWorker) end them with SIGTERM and its default action, which skips ``atexit``:
    this is the last moment a worker's spans can be saved. A server stopping keeps the short exit of a
    SIGTERM (at most 20 s of writing; the rest stays spooled for the next start)."""

    async def send_after_flush(message: Message) -> None:
        if message.get("type") == "lifespan.shutdown.complete":
            flush_before_stop()
        await send(message)

    return send_after_flush


def _first(body: dict[str, Any], names: Sequence[str]) -> Any:
    for name in names:
        if name in body:
            return body[name]
    return None


def _is_json(headers: Any) -> bool:
    for key, value in headers:
        if key.lower() == b"content-type":
            return b"json" in value.lower()
    return False
