"""``FastAPIRequestInstrumentor``: what otel-mlflow adds to FastAPI's OpenTelemetry spans.

The HTTP server spans themselves come from the official ``opentelemetry-instrumentation-fastapi``
(installed with otel-mlflow; under ``opentelemetry-instrument`` it runs as the ``fastapi`` entry
point). This instrumentor adds :class:`~instrumentors.asgi_capture.RequestCaptureMiddleware`, which puts
the request's question, the body fields named as params and the answer on the server span, so each request's run carries them.

Zero-code: the entry point ``otel_mlflow_fastapi`` patches every FastAPI app (disable it with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_mlflow_fastapi``). In code, one call does both parts and
never adds anything twice, even under ``opentelemetry-instrument``::

    from instrumentors.fastapi import FastAPIRequestInstrumentor
    FastAPIRequestInstrumentor.instrument_app(app)

Environment: ``OTEL_MLFLOW_QUESTION_FIELDS``, ``OTEL_MLFLOW_ANSWER_FIELDS``, ``OTEL_MLFLOW_PARAM_FIELDS``,
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentors._patching import is_ours, mark_ours
from instrumentors.asgi_capture import RequestCaptureMiddleware
from otel_mlflow.config import CaptureOptions

_instruments = ("fastapi >= 0.92",)


class FastAPIRequestInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Adds request/answer capture to every FastAPI app (``instrument``) or to one (``instrument_app``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from fastapi import applications

        options = kwargs.get("capture_options") or CaptureOptions.from_env()

        def build_middleware_stack(wrapped: Any, instance: Any, args: Any, kw: Any) -> Any:
            add_capture(instance, options)  # as the outermost user middleware, inside Starlette's own
            return wrapped(*args, **kw)

        if not is_ours(inspect.getattr_static(applications.FastAPI, "build_middleware_stack")):
            wrapt.wrap_function_wrapper(applications.FastAPI, "build_middleware_stack", mark_ours(build_middleware_stack))

    def _uninstrument(self, **kwargs: Any) -> None:
        from fastapi import applications

        current = inspect.getattr_static(applications.FastAPI, "build_middleware_stack")
        if is_ours(current):
            applications.FastAPI.build_middleware_stack = current.__wrapped__

    @staticmethod
    def instrument_app(app: Any, capture_options: CaptureOptions | None = None, **official_kwargs: Any) -> None:
        """Instrument one app: the official FastAPI spans (unless already there) plus our capture.

        Call it before the app serves its first request (Starlette forbids adding middleware later).
        """
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        if not getattr(app, "_is_instrumented_by_opentelemetry", False):
            FastAPIInstrumentor.instrument_app(app, **official_kwargs)
        add_capture(app, capture_options)


def add_capture(app: Any, options: CaptureOptions | None) -> None:
    """Add the capture middleware to ``app.user_middleware`` once (before the app starts serving)."""
    from starlette.middleware import Middleware

    if not any(m.cls is RequestCaptureMiddleware for m in app.user_middleware):
        app.user_middleware.insert(0, Middleware(RequestCaptureMiddleware, options=options))

