"""The two private OpenTelemetry APIs otel-mlflow relies on, because no public way exists. Nowhere else.

- ``opentelemetry.sdk._configuration._OTelSDKConfigurator``: the SDK's configurator, which reads every
  ``OTEL_*`` variable and builds the providers. ``opentelemetry-instrument`` needs a configurator entry
  point to set the SDK up, and the SDK registers none of its own; ``opentelemetry-distro`` subclasses
  this same private class. We subclass it and override nothing.
- ``app._is_instrumented_by_opentelemetry``: the flag ``opentelemetry-instrumentation-fastapi`` sets on
  an app it instrumented. Its ``instrument_app`` logs a warning when called twice, and offers no public
  way to ask first.

Checked against opentelemetry-sdk 1.30-1.45 and opentelemetry-instrumentation-fastapi 0.51b0-0.66b2;
``tests/test_private_apis.py`` fails loudly when either changes.
"""

from __future__ import annotations

from typing import Any

FASTAPI_INSTRUMENTED_FLAG = "_is_instrumented_by_opentelemetry"


def __getattr__(name: str) -> Any:
    """``SDKConfigurator``, imported on first use: the SDK's configuration module is heavy, and the FastAPI
    instrumentor, which imports this module too, does not need it."""
    if name == "SDKConfigurator":
        from opentelemetry.sdk._configuration import _OTelSDKConfigurator

        return _OTelSDKConfigurator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fastapi_app_instrumented(app: Any) -> bool:
    """True when the official FastAPI instrumentation already instrumented ``app``."""
    return bool(getattr(app, FASTAPI_INSTRUMENTED_FLAG, False))
