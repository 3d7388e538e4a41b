"""``FastAPIRequestInstrumentor``: what otel-mlflow adds to FastAPI's OpenTelemetry spans.

The HTTP server spans themselves come from the official ``opentelemetry-instrumentation-fastapi``
(installed with otel-mlflow; under ``opentelemetry-instrument`` it runs as the ``fastapi`` entry
point). This instrumentor adds :class:`~instrumentors.asgi_capture.RequestCaptureMiddleware`, which puts
the request's question, the body fields named as params and the answer on the server span, so each request's run
carries them.

Zero-code: the entry point ``otel_mlflow_fastapi`` patches every FastAPI app (disable it with
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=otel_mlflow_fastapi``). In code, one call does both parts and
never adds anything twice, even under ``opentelemetry-instrument``; ``uninstrument_app`` undoes it::

    from instrumentors.fastapi import FastAPIRequestInstrumentor
    FastAPIRequestInstrumentor.instrument_app(app)
    FastAPIRequestInstrumentor.uninstrument_app(app)

Environment: ``OTEL_MLFLOW_QUESTION_FIELDS``, ``OTEL_MLFLOW_ANSWER_FIELDS``, ``OTEL_MLFLOW_PARAM_FIELDS``,
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
"""

from __future__ import annotations

import inspect
import os
import weakref
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentors._patching import is_ours, unwrap, wrap
from instrumentors.asgi_capture import RequestCaptureMiddleware
from otel_mlflow.config import DEFAULT_EXCLUDED_URLS, ENV_FASTAPI_EXCLUDED_URLS, CaptureOptions
from otel_mlflow.instrumentation.otel_private import fastapi_app_instrumented

_instruments = ("fastapi >= 0.92",)


_left_alone: weakref.WeakSet[Any] = weakref.WeakSet()
"""Apps given to ``uninstrument_app``: the class-wide patch adds no capture to them any more."""


class FastAPIRequestInstrumentor(BaseInstrumentor):
    """Adds request/answer capture to every FastAPI app (``instrument``) or to one (``instrument_app``)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from fastapi import applications

        options = kwargs.get("capture_options") or CaptureOptions.from_env()

        def build_middleware_stack(wrapped: Any, instance: Any, args: Any, kw: Any) -> Any:
            if instance not in _left_alone:
                add_capture(instance, options)  # as the outermost user middleware, inside Starlette's own
            return wrapped(*args, **kw)

        if not is_ours(inspect.getattr_static(applications.FastAPI, "build_middleware_stack")):
            wrap(applications.FastAPI, "build_middleware_stack", build_middleware_stack)

    def _uninstrument(self, **kwargs: Any) -> None:
        from fastapi import applications

        unwrap(applications.FastAPI, "build_middleware_stack")

    @staticmethod
    def instrument_app(app: Any, capture_options: CaptureOptions | None = None, **official_kwargs: Any) -> None:
        """Instrument one app: the official FastAPI spans (unless already there) plus our capture.

        Call it before the app serves its first request (Starlette forbids adding middleware later).
        """
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        _left_alone.discard(app)
        if not fastapi_app_instrumented(app):
            if "excluded_urls" not in official_kwargs and ENV_FASTAPI_EXCLUDED_URLS not in os.environ:
                official_kwargs["excluded_urls"] = DEFAULT_EXCLUDED_URLS  # health checks make no runs
            FastAPIInstrumentor.instrument_app(app, **official_kwargs)
        if add_capture(app, capture_options) and app.middleware_stack is not None:
            app.middleware_stack = None  # built already (instrumented before): Starlette rebuilds it with ours

    @staticmethod
    def uninstrument_app(app: Any) -> None:
        """Undo :meth:`instrument_app`: no capture, no official spans; the app serves on untouched, also
        under ``opentelemetry-instrument`` (the class-wide patch leaves this app alone from now on)."""
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        _left_alone.add(app)
        app.user_middleware[:] = [m for m in app.user_middleware if m.cls is not RequestCaptureMiddleware]
        if fastapi_app_instrumented(app):
            FastAPIInstrumentor.uninstrument_app(app)  # rebuilds the middleware stack
        else:
            app.middleware_stack = None  # Starlette rebuilds it on the next request


def add_capture(app: Any, options: CaptureOptions | None) -> bool:
    """Add the capture middleware to ``app.user_middleware`` once (before the app starts serving); True when
    it was added now."""
    from starlette.middleware import Middleware

    if any(m.cls is RequestCaptureMiddleware for m in app.user_middleware):
        return False
    app.user_middleware.insert(0, Middleware(RequestCaptureMiddleware, options=options))
    return True
