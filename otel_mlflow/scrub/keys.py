"""Which attribute, param or tag names hold a credential.

A key is split into words on ``.``, ``_``, ``-``, other punctuation and camelCase, and is secret when a
word (or two adjacent words) is a credential word, after Sentry/Relay's default deny-list::

    is_secret_key("http.request.header.x-api-key")   # True  ("api", "key")
    is_secret_key("db_password"), is_secret_key("GITHUB_TOKEN"), is_secret_key("clientSecret")  # True
    is_secret_key("gen_ai.usage.input_tokens")        # False ("tokens" is a count)
    is_secret_key("llm.token_count.prompt")           # False ("token" then "count")
    is_secret_key("author")                           # False (whole words only)

Keys on the allow-list are never secret: token counts and MLflow's own keys (``mlflow.*``), which the
Sessions view and token metrics need, ``session.id`` and ``user.id``, plus the user's own globs.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Final

SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pwd",
        "secret",
        "secrets",
        "token",
        "auth",
        "oauth",
        "authorization",
        "credential",
        "credentials",
        "creds",
        "cookie",
        "cookies",
        "jwt",
        "dsn",
        "apikey",
        "privatekey",
        "sessionid",
        "csrf",
        "xsrf",
        "signature",
        "bearer",
    }
)
"""Whole words that make a key secret (case-insensitive)."""

SECRET_PAIRS: Final = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("access", "key"),
        ("signing", "key"),
        ("encryption", "key"),
        ("master", "key"),
        ("session", "key"),
    }
)
"""Two adjacent words that make a key secret (``x-api-key``, ``aws_access_key_id``)."""

SECRET_ENDINGS: Final = ("token", "secret", "password", "passwd", "apikey")
"""A single word ending so is secret too (``accesstoken``, ``dbpassword``, ``xapikey``)."""

COUNTING_WORDS: Final = frozenset(
    {
        "count",
        "counts",
        "usage",
        "limit",
        "limits",
        "type",
        "estimate",
        "estimated",
        "budget",
        "length",
        "max",
        "min",
        "num",
        "total",
    }
)
"""``token`` next to one of these names a number or a kind, not a credential (``token_count``, ``max_token``)."""

DEFAULT_ALLOWED_KEYS: Final = (
    "mlflow.*",
    "gen_ai.usage.*",
    "gen_ai.request.max_tokens",
    "llm.token_count.*",
    "llm.usage.*",
    "session.id",
    "user.id",
)
"""Globs of keys that stay whatever their words (``fnmatch`` rules, case-sensitive)."""

_SPLIT = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def key_words(key: str) -> list[str]:
    """``key`` split into lower-case words: ``"X-Amz-Signature"`` -> ``["x", "amz", "signature"]``."""
    return [w.lower() for w in _SPLIT.split(key) if w]


def has_secret_words(words: list[str], extra: frozenset[str] = frozenset()) -> bool:
    """True when ``words`` (from :func:`key_words`) name a credential; ``extra`` adds the user's own words."""
    for i, word in enumerate(words):
        if word.endswith("token"):  # "token" beside a counting word is a number; "accesstoken" never is
            before = words[i - 1] if i else ""
            after = words[i + 1] if i + 1 < len(words) else ""
            if word == "token" and (before in COUNTING_WORDS or after in COUNTING_WORDS):
                continue
            return True
        if word in SECRET_WORDS or word in extra or word.endswith(SECRET_ENDINGS):
            return True
        if i + 1 < len(words) and (word, words[i + 1]) in SECRET_PAIRS:
            return True
    return False


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str, extra: frozenset[str] = frozenset(), allowed: tuple[str, ...] = ()) -> bool:
    """True when a value named ``key`` is a credential; ``extra``: the user's secret words (lower case),
    ``allowed``: the user's globs of keys that are never secret (beside :data:`DEFAULT_ALLOWED_KEYS`)."""
    if is_allowed_key(key, allowed):
        return False
    return has_secret_words(key_words(key), extra)


@functools.lru_cache(maxsize=4096)
def is_user_allowed_key(key: str, allowed: tuple[str, ...]) -> bool:
    """True when ``key`` matches one of the user's globs (``OTEL_MLFLOW_REDACT_ALLOW_KEYS``): its value is written
    as it is. The built-in :data:`DEFAULT_ALLOWED_KEYS` only escape the key rule; their values (an
    ``mlflow.spanInputs`` holding a prompt, say) are still searched for credentials."""
    return any(fnmatch.fnmatchcase(key, glob) for glob in allowed)


@functools.lru_cache(maxsize=4096)
def is_allowed_key(key: str, allowed: tuple[str, ...] = ()) -> bool:
    """True when ``key`` matches a glob of :data:`DEFAULT_ALLOWED_KEYS` or of ``allowed``."""
    return any(fnmatch.fnmatchcase(key, glob) for glob in (*DEFAULT_ALLOWED_KEYS, *allowed))
