"""The private OpenTelemetry APIs otel-mlflow relies on (otel_mlflow/instrumentation/otel_private.py) still
behave as it expects. A failure here means a new OpenTelemetry release changed one: read that module."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from fastapi import FastAPI

from instrumentors import _patching
from instrumentors.fastapi import FastAPIRequestInstrumentor
from otel_mlflow.instrumentation.otel_private import SDKConfigurator, fastapi_app_instrumented
from tests.helpers import SpanRecorder


@pytest.mark.subprocess
def test_the_sdk_configurator_still_configures_the_sdk_from_env() -> None:
    assert callable(getattr(SDKConfigurator, "configure", None))  # what opentelemetry-instrument calls
    code = (
        "from otel_mlflow.distro import MLflowConfigurator\nfrom opentelemetry import trace\n"
        "MLflowConfigurator().configure()\nprint(type(trace.get_tracer_provider()).__module__)"
    )
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "opentelemetry.sdk.trace"


def test_the_fastapi_flag_still_tells_an_instrumented_app(recorder: SpanRecorder) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = FastAPI()
    assert not fastapi_app_instrumented(app)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=recorder.provider)
    assert fastapi_app_instrumented(app)
    FastAPIInstrumentor.uninstrument_app(app)
    assert not fastapi_app_instrumented(app)


def test_instrument_app_twice_warns_nothing(recorder: SpanRecorder, caplog: pytest.LogCaptureFixture) -> None:
    app = FastAPI()
    with caplog.at_level(logging.WARNING):
        FastAPIRequestInstrumentor.instrument_app(app, tracer_provider=recorder.provider)
        FastAPIRequestInstrumentor.instrument_app(app, tracer_provider=recorder.provider)
    assert not [r for r in caplog.records if "already instrumented" in r.getMessage()]


class _Service:
    @staticmethod
    def answer(question: str) -> str:
        return question.upper()


def test_only_our_wrapt_patches_are_ours_and_undone() -> None:
    import wrapt

    def passthrough(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return wrapped(*args, **kwargs)

    original = _Service.__dict__["answer"]
    theirs = wrapt.wrap_function_wrapper(_Service, "answer", passthrough)  # another library's patch
    try:
        assert not _patching.is_ours(theirs) and not _patching.unwrap(_Service, "answer")
        ours = _patching.wrap(_Service, "answer", passthrough)
        assert _patching.is_ours(ours) and _Service.answer("q") == "Q"
        assert _patching.unwrap(_Service, "answer")
        assert _Service.__dict__["answer"] is theirs  # theirs is back, untouched
    finally:
        _Service.answer = original  # type: ignore[method-assign]
