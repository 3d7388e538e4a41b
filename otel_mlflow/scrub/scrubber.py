"""One scrubber for every way out: keys, text, attribute maps, with the user's rules added.

Usage::

    from otel_mlflow.scrub import Scrubber

    scrub = Scrubber(ScrubSettings(patterns=(r"ACME-\\d{6}",)))
    scrub.text("order ACME-123456, key sk-proj-abcdefghijklmnopqrstu")  # "order [redacted], key sk-proj-...[redacted]"
    scrub.attributes({"http.request.header.x-api-key": "k1", "k": 3})      # {"...x-api-key": "[redacted]", "k": 3}

A secret key keeps its name and loses its value (``[redacted]``, or ``Bearer [redacted]`` / ``sk-...[redacted]``
when the value shows its kind): the reader still sees that a credential was there.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import regex

from otel_mlflow.config.scrub import PATTERN_TIMEOUT_SECONDS, ScrubSettings
from otel_mlflow.config.settings import ENV_REDACT_PATTERNS
from otel_mlflow.scrub.keys import is_secret_key, is_user_allowed_key
from otel_mlflow.scrub.logs import get_logger
from otel_mlflow.scrub.values import REDACTED, mask_whole, scrub_text

TIMED_OUT: str = f"[redacted: a pattern of {ENV_REDACT_PATTERNS} ran over {PATTERN_TIMEOUT_SECONDS} s on this value]"

_log = get_logger(__name__)


class Scrubber:
    """Built-in rules (:mod:`.keys`, :mod:`.values`) plus ``settings``; cheap to share between threads."""

    __slots__ = ("settings", "_extra", "_user", "timeouts")

    def __init__(self, settings: ScrubSettings | None = None) -> None:
        self.settings = settings or ScrubSettings()
        self._extra = frozenset(self.settings.keys)
        self._user = _compiled(self.settings.patterns) if self.settings.patterns else None
        self.timeouts = 0
        """Values masked whole because a user pattern ran out of time."""

    def is_secret_key(self, key: str) -> bool:
        """True when a value named ``key`` is a credential."""
        return is_secret_key(key, self._extra, self.settings.allow_keys)

    def text(self, text: str, *, shapes: bool = True) -> str:
        """``text`` with credentials of every known shape and every user pattern masked."""
        if shapes:
            text = scrub_text(text)
        if self._user is None or not text:
            return text
        try:
            return self._user.sub(REDACTED, text, timeout=PATTERN_TIMEOUT_SECONDS)
        except TimeoutError:
            self.timeouts += 1
            if self.timeouts == 1:
                _log.warning(
                    "%s: a pattern ran over %s s on a value of %d characters; the value was masked whole. "
                    "Simplify the pattern (no nested repeats such as (a+)+).",
                    ENV_REDACT_PATTERNS,
                    PATTERN_TIMEOUT_SECONDS,
                    len(text),
                )
            return TIMED_OUT

    def key(self, key: str) -> str:
        """A key (a name an attacker may choose too) with credentials in it masked."""
        return self.text(key)

    def value(self, key: str, value: Any) -> Any:
        """``value`` of the attribute ``key``, safe to write: masked whole under a secret key, else scrubbed."""
        if self.is_secret_key(key):
            return _masked(value)
        return self._scrub_value(value, not is_user_allowed_key(key, self.settings.allow_keys))

    def attributes(self, attrs: Mapping[str, Any] | None) -> dict[str, Any]:
        """Every attribute of ``attrs`` with its key and value scrubbed."""
        return {self.key(str(k)): self.value(str(k), v) for k, v in (attrs or {}).items()}

    def _scrub_value(self, value: Any, shapes: bool) -> Any:
        if isinstance(value, str):
            return self.text(value, shapes=shapes)
        if isinstance(value, (list, tuple)):
            return [self._scrub_value(v, shapes) for v in value]
        return value


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_whole(value)
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return REDACTED


@functools.lru_cache(maxsize=16)
def _compiled(patterns: tuple[str, ...]) -> Any:
    """The user's patterns as one ``regex`` pattern (it takes a ``timeout``; ``re`` cannot)."""
    return regex.compile("|".join(f"(?:{p})" for p in patterns))


@functools.lru_cache(maxsize=1)
def default_scrubber() -> Scrubber:
    """The scrubber of this process's environment (``OTEL_MLFLOW_REDACT_*``), for code without a Config:
    the helper API, log lines, ``doctor``. A bad setting falls back to the built-in rules (the exporter's
    Config reports it)."""
    try:
        return Scrubber(ScrubSettings.from_env())
    except Exception:  # noqa: BLE001 - a ConfigError is reported where the Config is built
        return Scrubber()
