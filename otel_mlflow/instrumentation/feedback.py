"""User feedback on an answer, given after the answer: it becomes an MLflow feedback assessment on the request's
trace (MLflow's Assessments and Review views) and counts in its window run (``feedback.<value>``).

Usage (a FastAPI app: ``/ask`` tells the client its trace id, ``/feedback`` takes it back)::

    from otel_mlflow import current_trace_id, log_feedback

    @app.post("/ask")
    def ask(body: Ask, response: Response):
        response.headers["x-trace-id"] = current_trace_id() or ""
        ...

    @app.post("/feedback")
    def feedback(body: Feedback):
        log_feedback(body.trace_id, body.value, comment=body.comment, user=body.user)

``log_feedback`` returns at once: it records a ``feedback`` span (a trace of its own); the exporter, or
``otel-mlflow receive`` behind a Collector, writes it once the request's trace is in MLflow. The trace id is the
request's OpenTelemetry trace id (32 hex, what ``current_trace_id`` gives while the request runs), or an MLflow trace
id (``tr-...``, ``trace:/...``) copied from MLflow's UI.
"""

from __future__ import annotations

import math
import re
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from otel_mlflow import attributes as A
from otel_mlflow.instrumentation.backend import backend

FeedbackValue = str | bool | int | float
_OTEL_TRACE_ID = re.compile(r"[0-9a-f]{32}")

MAX_COMMENT_CHARS = 10_000


def current_trace_id() -> str | None:
    """The current span's OpenTelemetry trace id as 32 hex digits; None outside any span."""
    span_context = trace.get_current_span().get_span_context()
    return f"{span_context.trace_id:032x}" if span_context.is_valid else None


def log_feedback(
    trace_id: str,
    value: FeedbackValue,
    *,
    comment: str | None = None,
    user: str | None = None,
    name: str = A.DEFAULT_FEEDBACK_NAME,
) -> None:
    """Record feedback on the request whose trace is ``trace_id``: ``value`` is text (``"helpful"``), a bool
    (thumbs up) or a number (a rating); ``comment`` becomes the assessment's rationale, ``user`` its source.

    Raises ``ValueError`` naming the fix for a trace id or value MLflow could not take; never waits on MLflow.
    """
    trace_id = _checked_trace_id(trace_id)
    attrs: dict[str, Any] = {
        A.FEEDBACK_TRACE_ID: trace_id,
        A.FEEDBACK_VALUE: _checked_value(value),
        A.FEEDBACK_NAME: _checked_text("name", name, 200) or A.DEFAULT_FEEDBACK_NAME,
    }
    if comment is not None:
        attrs[A.FEEDBACK_COMMENT] = _checked_text("comment", comment, MAX_COMMENT_CHARS)
    if user is not None:
        attrs[A.USER_ID] = _checked_text("user", user, 200)
    span = backend().tracer.start_span("feedback", context=otel_context.Context(), attributes=attrs)
    span.end()  # a trace of its own, never a child of the request that reports it (e.g. POST /feedback)


def _checked_trace_id(trace_id: Any) -> str:
    text = str(trace_id).strip() if isinstance(trace_id, str) else ""
    if _OTEL_TRACE_ID.fullmatch(text.lower()) and int(text, 16):
        return text.lower()
    if (text.startswith("tr-") or text.startswith("trace:/")) and len(text) <= 300 and text.isprintable():
        return text
    raise ValueError(
        f"trace_id {trace_id!r} is neither an OpenTelemetry trace id (32 hex digits, from "
        "current_trace_id() during the request) nor an MLflow trace id ('tr-...' or 'trace:/...')"
    )


def _checked_value(value: Any) -> FeedbackValue:
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2**63):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and value.strip() and len(value) <= 1000:
        return value.strip()
    raise ValueError(
        f"feedback value {value!r} must be a non-empty text of at most 1000 characters, a bool or a finite number"
    )


def _checked_text(what: str, text: Any, limit: int) -> str:
    if not isinstance(text, str):
        raise ValueError(f"feedback {what} must be text, got {type(text).__name__}")
    return text[:limit]
