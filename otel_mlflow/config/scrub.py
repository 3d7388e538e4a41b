"""What the scrubber hides beyond its built-in rules: the user's patterns, secret words and allowed keys.

Usage::

    from otel_mlflow.config import ScrubSettings

    settings = ScrubSettings.from_env()   # OTEL_MLFLOW_REDACT_PATTERNS, _REDACT_KEYS, _REDACT_ALLOW_KEYS
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import regex

from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.settings import ENV_REDACT_ALLOW_KEYS, ENV_REDACT_KEYS, ENV_REDACT_PATTERNS

PATTERN_TIMEOUT_SECONDS = 0.5
"""Longest one user pattern may spend on one value; past it the whole value is masked (a pattern that
backtracks catastrophically costs at most this, never a stuck exporter)."""

_WORD = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class ScrubSettings:
    """The user's additions to the scrubbing rules (see :mod:`otel_mlflow.scrub`)."""

    patterns: tuple[str, ...] = ()
    """Regular expressions (the ``regex`` module's syntax, a superset of ``re``) masked in every text."""
    keys: tuple[str, ...] = ()
    """Extra secret words: a key holding one as a whole word is secret (``ssn`` hides ``user.ssn``)."""
    allow_keys: tuple[str, ...] = ()
    """Globs of keys that are never secret and whose values skip the built-in shapes (false positives)."""

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            try:
                regex.compile(pattern)
            except (regex.error, re.error) as exc:
                raise ConfigError(f"{ENV_REDACT_PATTERNS}: {pattern!r} is not a regular expression ({exc})") from None
        object.__setattr__(self, "keys", tuple(k.lower() for k in self.keys))
        for word in self.keys:
            if not _WORD.match(word):
                raise ConfigError(
                    f"{ENV_REDACT_KEYS}: {word!r} is not one word; list whole words of keys, e.g. "
                    f"{ENV_REDACT_KEYS}=ssn,iban (keys are split on . _ - and camelCase)"
                )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScrubSettings:
        """The three rows read from ``env`` (default ``os.environ``)."""
        source = os.environ if env is None else env
        return cls(
            *(row.read({}, source) or () for row in (ENV_REDACT_PATTERNS, ENV_REDACT_KEYS, ENV_REDACT_ALLOW_KEYS))
        )
