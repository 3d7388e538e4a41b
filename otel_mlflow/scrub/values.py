"""Credentials inside free text, found by their shape and masked so that the shape stays readable.

Usage::

    from otel_mlflow.scrub.values import scrub_text, mask_whole

    scrub_text("Incorrect API key provided: sk-proj-abcdefghijklmnopqrstu")  # "... sk-proj-...[redacted]"
    scrub_text("postgresql://app:hunter2@db:5432/x")                          # "postgresql://app:[redacted]@db..."
    scrub_text('{"db_password": "LEAK9"}')                                    # '{"db_password": "[redacted]"}'
    mask_whole("Bearer eyJhbGciOi...")                                        # "Bearer [redacted]"

The shapes (after gitleaks' provider rules and Sentry/Relay's ``@password``/``@bearer`` rules): ``name=value``
and ``name: value`` pairs whose name is a secret name (:mod:`.keys`), quoted or not, any length;
``Bearer``/``Basic`` credentials; provider key formats (OpenAI, Anthropic, GitHub, GitLab, Slack, Hugging Face,
Google, Stripe, npm, PyPI, AWS access key ids); JWTs; URLs with a password in their userinfo; PEM private keys.

Written here rather than taken from a library: the scanners that exist (detect-secrets, gitleaks) report
findings in files and do not mask text in place. Cost is linear in the text: each shape runs only when its
literal (``://``, ``eyJ``, ``sk-``...) is present, and pairs are found from their ``:``/``=`` backwards, so a
long prompt costs a few substring searches, not a regular expression tried at every position.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable
from typing import Final

from otel_mlflow.scrub.keys import has_secret_words, key_words

REDACTED: Final = "[redacted]"
"""What stands in for a secret. A masked value keeps its prefix: ``sk-...[redacted]``, ``Bearer [redacted]``."""

_PROVIDER_LITERALS = (
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "rk_test_",
    "pk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxa-",
    "xoxb-",
    "xoxp-",
    "xoxr-",
    "xoxs-",
    "hf_",
    "AIza",
    "AKIA",
    "ASIA",
    "npm_",
    "pypi-",
)
_PROVIDER = "|".join(re.escape(p) for p in sorted(_PROVIDER_LITERALS, key=len, reverse=True))
_SCHEMES = r"Bearer|Basic|Token|Digest|ApiKey"
_SCHEME_PREFIX = re.compile(rf"(?:{_SCHEMES})\s+")
_PROVIDER_PREFIX = re.compile(
    rf"(?:sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)|{_PROVIDER})(?=[A-Za-z0-9_\-]{{16}})"
)
_VALUE = re.compile(
    r'"(?:[^"\\\n]|\\.){0,8192}"'
    r"|(?P<escaped>\\+[\"'])(?:(?!(?P=escaped)).){0,8192}(?P=escaped)"  # quoted inside a JSON string: \"...\"
    r"|'[^'\n]{0,8192}'"
    rf"|(?:(?:{_SCHEMES})\s+)?(?:[^\s&,;'\"<>(){{}}\[\]\\]|\[redacted\]){{1,8192}}"  # stops at \n in JSON text
)
_SEPARATOR = re.compile(r"[:=]")
_START = r"(?:(?<![A-Za-z0-9])|(?<=\\[nrt]))"
"""Where a credential may begin: not inside a word, or right after an escaped line break of JSON text."""
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_MAX_NAME = 128


def _provider(match: re.Match[str]) -> str:
    prefix = _PROVIDER_PREFIX.match(match.group(0))
    return f"{prefix.group(0) if prefix else match.group(1)}...{REDACTED}"


def _basic(match: re.Match[str]) -> str:
    """``Basic`` followed by base64 of ``user:password`` (not the word "Basic" in a sentence)."""
    try:
        decoded = base64.b64decode(match.group(2) + "=" * (-len(match.group(2)) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return f"{match.group(1)} {REDACTED}" if b":" in decoded else match.group(0)


_SHAPES: tuple[tuple[tuple[str, ...], re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        ("-----BEGIN",),
        re.compile(r"(-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----)[\s\S]*?(?:-----END[A-Z ]{0,40}PRIVATE KEY-----|\Z)"),
        lambda m: f"{m.group(1)}{REDACTED}",
    ),
    (
        ("://",),
        re.compile(
            r"(?:(?<![A-Za-z0-9+.\-])|(?<=\\[nrt]))"
            r"([A-Za-z][A-Za-z0-9+.\-]{0,30}://[^\s/:@?#]{0,256}:)[^\s/?#]{1,1024}@"
        ),
        lambda m: f"{m.group(1)}{REDACTED}@",
    ),
    (
        ("eyJ",),
        re.compile(rf"{_START}(eyJ)[\w\-]{{8,}}\.eyJ[\w\-]{{4,}}\.[\w\-]*"),
        lambda m: f"{m.group(1)}...{REDACTED}",
    ),
    (_PROVIDER_LITERALS, re.compile(rf"{_START}({_PROVIDER})[A-Za-z0-9_\-]{{16,}}"), _provider),
    (
        ("Bearer", "bearer"),
        re.compile(_START + r"([Bb]earer)\s+(?=[A-Za-z0-9_\-.=~+/:]*[0-9_\-.=+/])[A-Za-z0-9_\-.=~+/:]{8,}"),
        lambda m: f"{m.group(1)} {REDACTED}",
    ),
    (("Basic",), re.compile(_START + r"(Basic)\s+([A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])"), _basic),
)


_TRIGGER = re.compile("|".join(re.escape(literal) for literals, _, _ in _SHAPES for literal in literals))
_SHORT = 2048
"""Up to this length one regular-expression search for every literal is cheaper than a substring search per
literal; past it, substring searches (C speed, no backtracking) are."""


def scrub_text(text: str) -> str:
    """``text`` with every credential of a known shape masked (see the module's docstring)."""
    if len(text) < 6:
        return text
    if len(text) > _SHORT or _TRIGGER.search(text):  # short texts: one search finds whether any shape may be there
        for literals, pattern, replace in _SHAPES:
            if any(literal in text for literal in literals):
                text = pattern.sub(replace, text)
    return _scrub_pairs(text) if ("=" in text or ":" in text) else text


def mask_whole(value: str) -> str:
    """A value that is a secret as a whole (its key said so): only an auth scheme or key prefix stays."""
    scheme = _SCHEME_PREFIX.match(value)
    if scheme:
        return f"{scheme.group(0).rstrip()} {REDACTED}"
    prefix = _PROVIDER_PREFIX.match(value)
    if prefix:
        return f"{prefix.group(0)}...{REDACTED}"
    return REDACTED


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True when ``name`` (the left side of ``name=value`` in text) names a credential."""
    return has_secret_words(key_words(name))


def _scrub_pairs(text: str) -> str:
    """Mask the value of every ``name=value`` / ``name: value`` pair whose name is secret."""
    pieces: list[str] = []
    done = 0
    for sep in _SEPARATOR.finditer(text):
        at = sep.start()
        if at < done:
            continue  # inside a value already masked
        name = _name_before(text, at)
        if not name or not is_secret_name(name):
            continue
        start = sep.end()
        while start < len(text) and start - sep.end() < 8 and text[start] in " \t":
            start += 1
        value = _VALUE.match(text, start)
        if value is None:
            continue
        raw = value.group(0)
        quote = value.group("escaped") or (raw[0] if raw[0] in "'\"" else "")
        pieces.append(text[done:start])
        pieces.append(f"{quote}{REDACTED}{quote}" if quote else mask_whole(raw))
        done = value.end()
    if not pieces:
        return text
    pieces.append(text[done:])
    return "".join(pieces)


def _name_before(text: str, at: int) -> str:
    """The name left of the separator at ``at``: spaces, then an optional quote, then name characters."""
    end = at
    while end > 0 and at - end < 8 and text[end - 1] in " \t":
        end -= 1
    if end > 0 and text[end - 1] in "'\"":
        end -= 1
        while end > 0 and text[end - 1] == "\\":  # an escaped quote: \"name\": inside a JSON string
            end -= 1
    start = end
    while start > 0 and end - start < _MAX_NAME and text[start - 1] in _NAME_CHARS:
        start -= 1
    if start > 0 and text[start - 1] == "\\" and text[start : start + 1] in ("n", "r", "t"):
        start += 1  # "\npassword=" in JSON text: the name is "password"
    return text[start:end]
