"""Every convention otel-mlflow reads, one reader each, merged in order of preference (a table, like MLflow's
translation package), and what content capture off keeps of any attribute.

Usage::

    reading = read_span(attrs, span)        # model, tokens, prompt, response... whatever convention the span follows
    keep_without_content("ai.prompt", "…")  # False: known content
    keep_without_content("x.unknown", "a long text nobody has declared")  # False: deny by default
    python -m otel_mlflow.mapping.conventions README.md   # the README's table of conventions
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions import (
    claude_code,
    gemini_cli,
    genai,
    google_adk,
    laminar,
    langfuse,
    livekit,
    logfire,
    mlflow,
    openinference,
    ours,
    traceloop,
    vercel_ai,
    voltagent,
)
from otel_mlflow.mapping.conventions.base import READING_FIELDS, Convention, Reading

CONVENTIONS: tuple[Convention, ...] = (
    ours.CONVENTION,
    genai.CONVENTION,
    openinference.CONVENTION,
    traceloop.CONVENTION,
    vercel_ai.CONVENTION,
    logfire.CONVENTION,
    langfuse.CONVENTION,
    laminar.CONVENTION,
    google_adk.CONVENTION,
    voltagent.CONVENTION,
    livekit.CONVENTION,
    claude_code.CONVENTION,
    gemini_cli.CONVENTION,
    mlflow.CONVENTION,
)
"""In order of preference: where two conventions give the same fact, the first one's answer is kept."""
_READERS = tuple(c.read for c in CONVENTIONS if c.read is not None)

SHORT_TEXT_CHARS = 64
"""With content capture off, a string of a key no convention declares is kept up to this length (ids, names, codes),
and left out when longer: deny by default, whatever the key."""
CONTENT_KEYS = frozenset().union(*(c.content_keys for c in CONVENTIONS))
CONTENT_PREFIXES = tuple(p for c in CONVENTIONS for p in c.content_prefixes)
SAFE_KEYS = frozenset().union(*(c.safe_keys for c in CONVENTIONS)) | {
    A.HTTP_METHOD,
    A.HTTP_METHOD_OLD,
    A.HTTP_ROUTE,
    A.HTTP_STATUS_CODE,
    A.HTTP_STATUS_CODE_OLD,
    "exception.type",
    "exception.message",
    "exception.stacktrace",
    A.PROMPT_URI,  # registry versions used (prompts:/name/3): names, no content
    A.MLFLOW_LINKED_PROMPTS,
    "error.type",
}
SAFE_PREFIXES = (
    A.PARAM_PREFIX,
    A.METRIC_PREFIX,
    A.TAG_PREFIX,
    "otel_mlflow.usage.",
    "code.",
    "server.",
    "network.",
    "service.",
    "telemetry.",
    "process.",
    "host.",
    "thread.",
)
"""Keys of names, ids and code locations (OTel's own namespaces) and the params, metrics and tags users set on
purpose: kept with content capture off whatever their length."""


def read_span(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading:
    """What every convention the span follows says, merged: each fact from the first convention that gives it. A
    span is a model call when a convention says so and none says it is something else (a tool, an agent)."""
    merged = Reading()
    llm = not_llm = False
    for read in _READERS:
        reading = read(attrs, span)
        if reading is None:
            continue
        llm, not_llm = llm or reading.llm, not_llm or reading.not_llm
        for name in READING_FIELDS:
            if getattr(merged, name) is None:
                value = getattr(reading, name)
                if value is not None and value != "":
                    setattr(merged, name, value)
        for key, value in reading.request_params.items():
            merged.request_params.setdefault(key, value)
    merged.llm = llm and not not_llm
    return merged


def is_content_key(key: str) -> bool:
    """True when a convention declares ``key`` as holding prompt, response, message, tool or document text."""
    return key in CONTENT_KEYS or key.startswith(CONTENT_PREFIXES)


def keep_without_content(key: str, value: Any) -> bool:
    """With content capture off: keep numbers, booleans, known names and ids, and short strings of undeclared keys;
    leave out declared content and every other string longer than :data:`SHORT_TEXT_CHARS`."""
    if is_content_key(key):
        return False
    if key in SAFE_KEYS or key.startswith(SAFE_PREFIXES):
        return True
    return _short(value)


def _short(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= SHORT_TEXT_CHARS
    if isinstance(value, (list, tuple)):
        return all(_short(item) for item in value)
    return False


def markdown_table(rows: Sequence[Convention] = CONVENTIONS) -> str:
    lines = ["| Convention | Where its keys come from | Reader |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {row.source} | `{row.module.replace('.', '/')}.py` |")
    return "\n".join(lines)


README_BEGIN = "<!-- conventions table: made by `python -m otel_mlflow.mapping.conventions README.md` -->"
README_END = "<!-- end of conventions table -->"


def readme_with_table(text: str) -> str:
    """``text`` (the README) with the block between :data:`README_BEGIN` and :data:`README_END` made anew."""
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    return text[:start] + "\n" + markdown_table() + "\n" + text[end:]


__all__ = ["CONVENTIONS", "Convention", "Reading", "is_content_key", "keep_without_content", "read_span"]
