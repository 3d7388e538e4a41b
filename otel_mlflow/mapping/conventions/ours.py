"""otel-mlflow's own keys (``otel_mlflow.*``), written by our instrumentors and helper API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.values import as_text


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    if A.QUESTION not in attrs and A.ANSWER not in attrs and A.TOTAL_TOKENS not in attrs:
        return None
    return Reading(
        total_tokens=attrs.get(A.TOTAL_TOKENS),
        question=as_text(attrs.get(A.QUESTION)),
        answer=as_text(attrs.get(A.ANSWER)),
    )


CONVENTION = Convention(
    module=__name__,
    name="otel-mlflow",
    source="this package's instrumentors and helper API (`otel_mlflow.*`, `otel_mlflow/attributes.py`)",
    read=read,
    content_keys=frozenset({A.QUESTION, A.ANSWER, A.CONTEXT, A.FEEDBACK_COMMENT}),
    safe_keys=frozenset(
        {
            A.RUN_ID,
            A.MODEL_VERSION,
            A.TOKENS_ESTIMATED,
            A.STEP,
            A.USER_FEEDBACK,
            A.FEEDBACK_TRACE_ID,
            A.FEEDBACK_NAME,
            A.FEEDBACK_VALUE,
            A.SESSION_ID,
            A.USER_ID,
        }
    ),
)
