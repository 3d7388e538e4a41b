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

from otel_mlflow.config import parse
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.names import (
    ENV_ANSWER_FIELDS,
    ENV_CAPTURE_CONTENT,
    ENV_LLM_FUNCTIONS,
    ENV_LLM_MODEL,
    ENV_LLM_PROVIDER,
    ENV_PARAM_FIELDS,
    ENV_QUESTION_FIELDS,
    ENV_SESSION_FROM,
    ENV_USER_FROM,
)

DEFAULT_LLM_FUNCTIONS = ("services.llm_service:generate_answer",)
"""The old helper guide's service convention (``services/llm_service.py`` defining ``generate_answer``);
a module that is never imported costs nothing."""

_capture_error_logged = False


def capture_content_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` alone (default true); raises ConfigError."""
    raw = (os.environ if env is None else env).get(ENV_CAPTURE_CONTENT, "").strip()
    return True if not raw else parse.boolean(ENV_CAPTURE_CONTENT, raw)


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


def _names_from_env(var: str, default: Sequence[str]) -> Sequence[str]:
    raw = os.environ.get(var)
    return default if raw is None else parse.names(var, raw)


@dataclass(frozen=True)
class CaptureOptions:
    """JSON body fields a FastAPI request's span carries: the question and answer (when content capture is
    on) and request fields as run params (none unless named: ``OTEL_MLFLOW_PARAM_FIELDS=k,temperature``)."""

    question_fields: Sequence[str] = ("question",)
    answer_fields: Sequence[str] = ("answer",)
    param_fields: Sequence[str] = ()
    capture_content: bool = True
    session_from: Sequence[str] = ("header:x-session-id", "body:session_id")
    """Where a request's session id is read (``header:<name>`` or ``body:<field>``): it becomes ``session.id`` on
    the server span, which MLflow shows in its Sessions view."""
    user_from: Sequence[str] = ("header:x-user-id", "body:user_id")
    """Where its user id is read; it becomes ``user.id``."""

    def __post_init__(self) -> None:
        for var, sources in ((ENV_SESSION_FROM, self.session_from), (ENV_USER_FROM, self.user_from)):
            for source in sources:
                kind, _, name = source.partition(":")
                if kind not in ("header", "body") or not name:
                    raise ConfigError(f"{var}: {source!r} is not header:<name> or body:<field>, "
                                      "e.g. header:x-session-id,body:session_id")  # fmt: skip

    @classmethod
    def from_env(cls) -> CaptureOptions:
        return cls(
            question_fields=_names_from_env(ENV_QUESTION_FIELDS, cls.question_fields),
            answer_fields=_names_from_env(ENV_ANSWER_FIELDS, cls.answer_fields),
            param_fields=_names_from_env(ENV_PARAM_FIELDS, cls.param_fields),
            capture_content=capture_content_or_off(),
            session_from=_names_from_env(ENV_SESSION_FROM, cls.session_from),
            user_from=_names_from_env(ENV_USER_FROM, cls.user_from),
        )


@dataclass(frozen=True)
class LLMServiceSettings:
    """The functions the LLM-service instrumentor patches (``module:qualname`` entries), and the model and
    provider its spans name when a call does not tell them."""

    functions: Sequence[str] = DEFAULT_LLM_FUNCTIONS
    model: str | None = None
    provider: str | None = None

    @classmethod
    def from_env(cls) -> LLMServiceSettings:
        raw = os.environ.get(ENV_LLM_FUNCTIONS, "")
        return cls(
            functions=tuple(raw.split(",")) if raw.strip() else DEFAULT_LLM_FUNCTIONS,
            model=os.environ.get(ENV_LLM_MODEL) or None,
            provider=os.environ.get(ENV_LLM_PROVIDER) or None,
        )
