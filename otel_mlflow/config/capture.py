"""The instrumentors' settings: what a request's body and an LLM call put on spans.

Usage::

    from otel_mlflow.config import CaptureOptions, LLMServiceSettings, capture_content_or_off

    options = CaptureOptions.from_env()        # body fields of FastAPI requests and answers
    service = LLMServiceSettings.from_env()    # which functions are LLM calls, their model and provider

Instrumentation must never fail the app: a bad capture value turns capture off with one logged error.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_mlflow.config import settings as S
from otel_mlflow.config.errors import ConfigError

_capture_error_logged = False


def capture_content_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` alone (default true); raises ConfigError."""
    value = S.ENV_CAPTURE_CONTENT.read({}, os.environ if env is None else env)
    return bool(S.ENV_CAPTURE_CONTENT.default if value is None else value)


def capture_content_or_off() -> bool:
    """:func:`capture_content_from_env` for code that must not fail (instrumentation, helper calls): a bad
    value turns capture off, and the error naming the variable is logged once per process."""
    global _capture_error_logged
    try:
        return capture_content_from_env()
    except ConfigError as exc:
        if not _capture_error_logged:
            _capture_error_logged = True
            logging.getLogger("otel_mlflow").error("%s; prompt and response text will not be captured", exc)
        return False


def _from_env(row: S.Setting, env: Mapping[str, str] | None = None) -> Any:
    value = row.read({}, os.environ if env is None else env)
    return row.default if value is None else value


@dataclass(frozen=True)
class CaptureOptions:
    """JSON body fields a FastAPI request's span carries: the question and answer (when content capture is
    on) and request fields as run params (none unless named: ``OTEL_MLFLOW_PARAM_FIELDS=k,temperature``)."""

    question_fields: Sequence[str] = S.ENV_QUESTION_FIELDS.default
    answer_fields: Sequence[str] = S.ENV_ANSWER_FIELDS.default
    param_fields: Sequence[str] = S.ENV_PARAM_FIELDS.default
    capture_content: bool = S.ENV_CAPTURE_CONTENT.default
    session_from: Sequence[str] = S.ENV_SESSION_FROM.default
    """Where a request's session id is read (``header:<name>`` or ``body:<field>``): it becomes ``session.id`` on
    the server span, which MLflow shows in its Sessions view."""
    user_from: Sequence[str] = S.ENV_USER_FROM.default
    """Where its user id is read; it becomes ``user.id``."""

    def __post_init__(self) -> None:
        for var, sources in ((S.ENV_SESSION_FROM, self.session_from), (S.ENV_USER_FROM, self.user_from)):
            for source in sources:
                kind, _, name = source.partition(":")
                if kind not in ("header", "body") or not name:
                    raise ConfigError(
                        f"{var}: {source!r} is not header:<name> or body:<field>, "
                        "e.g. header:x-session-id,body:session_id"
                    )

    @classmethod
    def from_env(cls) -> CaptureOptions:
        return cls(
            question_fields=_from_env(S.ENV_QUESTION_FIELDS),
            answer_fields=_from_env(S.ENV_ANSWER_FIELDS),
            param_fields=_from_env(S.ENV_PARAM_FIELDS),
            capture_content=capture_content_or_off(),
            session_from=_from_env(S.ENV_SESSION_FROM),
            user_from=_from_env(S.ENV_USER_FROM),
        )


@dataclass(frozen=True)
class LLMServiceSettings:
    """The functions the LLM-service instrumentor patches (``module:qualname`` entries), and the model and
    provider its spans name when a call does not tell them."""

    functions: Sequence[str] = S.ENV_LLM_FUNCTIONS.default
    model: str | None = None
    provider: str | None = None

    @classmethod
    def from_env(cls) -> LLMServiceSettings:
        return cls(*(_from_env(row) for row in (S.ENV_LLM_FUNCTIONS, S.ENV_LLM_MODEL, S.ENV_LLM_PROVIDER)))
