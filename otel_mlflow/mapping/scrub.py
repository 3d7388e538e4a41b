"""Keep secrets out of MLflow: secret attribute keys are dropped, secret-looking text is masked.

Usage::

    from otel_mlflow.mapping.scrub import is_secret_key, redact_text

    is_secret_key("http.request.header.authorization")  # True
    redact_text("key sk-abcdefghijklmnopqrstuv")         # "key [REDACTED]"
"""

from __future__ import annotations

import functools
import re
from typing import Final

from otel_mlflow.attributes import SECRET_KEY_WORDS

REDACTED: Final = "[REDACTED]"
_SECRET_SUFFIXES = ("_token", "-token", "_secret", "-secret", "_password", "api_key", "api-key", "apikey")
_SECRET_VALUE = re.compile(
    r"(?:\bsk-[A-Za-z0-9_\-]{16,}"  # OpenAI-style keys (sk-..., sk-proj-...)
    r"|\b[Bb]earer\s+[A-Za-z0-9_\-.=~+/]{8,}"  # bearer tokens
    r"|\bBasic\s+[A-Za-z0-9+/=]{8,}"  # basic auth headers
    r"|(?i:\b(?:api[_-]?key|access[_-]?token|refresh[_-]?token|token|secret|password|passwd)\s*[=:]\s*"
    r"[^\s&,;'\"]{6,}))"  # key=value credentials in URLs, logs and error messages
)


def is_secret_key(key: str) -> bool:
    """True when an attribute named ``key`` holds a credential and must never be written."""
    last = key.rsplit(".", 1)[-1].lower()
    if last in SECRET_KEY_WORDS:
        return True
    return last.endswith(_SECRET_SUFFIXES)


def redact_text(text: str, patterns: tuple[str, ...] = ()) -> str:
    """Mask API keys, bearer tokens, basic-auth credentials and matches of ``patterns`` in ``text``."""
    text = _SECRET_VALUE.sub(REDACTED, text)
    return compiled(patterns).sub(REDACTED, text) if patterns else text


@functools.lru_cache(maxsize=32)
def compiled(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """The user's patterns (``OTEL_MLFLOW_REDACT_PATTERNS``) as one regular expression."""
    return re.compile("|".join(f"(?:{p})" for p in patterns))
