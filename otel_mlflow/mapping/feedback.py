"""User feedback on a request, as MLflow stores it: a feedback assessment on the request's trace. Pure.

Feedback comes two ways:

- with the request: ``log_prediction(user_feedback="helpful")`` (``otel_mlflow.user_feedback`` on a span of the
  request's trace);
- later: :func:`otel_mlflow.log_feedback` records a ``feedback`` span, a trace of its own, that names the
  request's trace (``otel_mlflow.feedback.trace_id``).

Usage::

    is_feedback_group(spans)       # a trace made only of later feedback: no run of its own
    notes = feedback_notes(spans)  # one FeedbackNote per feedback given, for MLflow's log_assessment
    feedback_counts(["helpful", "helpful", None, "wrong"])   # {"feedback.helpful": 2, "feedback.wrong": 1}
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.scrub import Scrubber

MAX_FEEDBACK_VALUES = 20
"""Distinct values counted by name in a window; the rest count as ``feedback.other`` (hostile input never
makes thousands of metrics)."""
_OTEL_TRACE_ID = re.compile(r"[0-9a-f]{32}")

FeedbackValue = str | bool | int | float


@dataclass(frozen=True)
class FeedbackNote:
    """One feedback for MLflow: ``trace_id`` is the request's OTel trace id (32 hex) or an MLflow trace id."""

    trace_id: str
    value: FeedbackValue
    key: str
    """The span that carried it: kept in the assessment's metadata, so a replay never logs it twice."""
    name: str = A.DEFAULT_FEEDBACK_NAME
    comment: str | None = None
    user: str | None = None

    @property
    def otel_trace_id(self) -> int | None:
        """The OTel trace id as a number, or None when ``trace_id`` is an MLflow id given as is."""
        return int(self.trace_id, 16) if is_otel_trace_id(self.trace_id) else None


def is_otel_trace_id(text: str) -> bool:
    return bool(_OTEL_TRACE_ID.fullmatch(text)) and int(text, 16) != 0


def is_feedback_span(span: ReadableSpan) -> bool:
    return A.FEEDBACK_TRACE_ID in (span.attributes or {})


def is_feedback_group(spans: Sequence[ReadableSpan]) -> bool:
    """Spans made only of later feedback (:func:`otel_mlflow.log_feedback`): they become assessments, no run."""
    return bool(spans) and all(is_feedback_span(s) for s in spans)


def feedback_notes(spans: Iterable[ReadableSpan], scrub: Scrubber | None = None) -> list[FeedbackNote]:
    """Every feedback that ``spans`` carry, given with a request or later, its texts cleaned by ``scrub``;
    odd values are skipped."""
    scrub = scrub or Scrubber()
    notes = []
    for span in spans:
        attrs = span.attributes or {}
        own = f"{span.context.trace_id:032x}" if span.context is not None else ""
        key = f"{span.context.span_id:016x}" if span.context is not None else ""
        if A.FEEDBACK_TRACE_ID in attrs:
            target, value = str(attrs[A.FEEDBACK_TRACE_ID]).strip().lower(), _value(attrs.get(A.FEEDBACK_VALUE))
            name = str(attrs.get(A.FEEDBACK_NAME) or A.DEFAULT_FEEDBACK_NAME)
        elif A.USER_FEEDBACK in attrs:
            target, value, name = own, _value(attrs[A.USER_FEEDBACK]), A.DEFAULT_FEEDBACK_NAME
        else:
            continue
        if value is None or not target:
            continue
        comment, user = attrs.get(A.FEEDBACK_COMMENT), attrs.get(A.USER_ID)
        notes.append(
            FeedbackNote(
                target,
                scrub.text(value) if isinstance(value, str) else value,
                key,
                scrub.text(name[:200]),
                None if comment is None else scrub.text(str(comment)),
                None if user is None else scrub.text(str(user)),
            )
        )
    return notes


def feedback_counts(values: Iterable[str | None]) -> dict[str, int]:
    """Metric name -> requests with that feedback value; values past the first ``MAX_FEEDBACK_VALUES``
    distinct ones (most frequent first) count as ``feedback.other``."""
    counts = Counter(v for v in values if v is not None)
    named = dict(counts.most_common(MAX_FEEDBACK_VALUES))
    out = {f"{A.METRIC_FEEDBACK_PREFIX}{value}": n for value, n in named.items()}
    rest = sum(n for value, n in counts.items() if value not in named)
    if rest:
        out[f"{A.METRIC_FEEDBACK_PREFIX}other"] = out.get(f"{A.METRIC_FEEDBACK_PREFIX}other", 0) + rest
    return out


def _value(raw: Any) -> FeedbackValue | None:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str) and raw.strip():
        return raw.strip()[:1000]
    return None
