"""What one convention reads from a span (:class:`Reading`) and how a convention is declared (:class:`Convention`).

A convention is a row: its name, where its keys come from, a reader, and the keys it knows to hold content (left
out with content capture off) or to hold none (kept whatever their length). Readers are pure and read only their
own keys; :mod:`otel_mlflow.mapping.conventions` merges their readings in order of preference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan


@dataclass
class Reading:
    """One convention's answers for one span; ``None`` where it has none. Token counts are raw (checked later)."""

    llm: bool = False
    """The span is a call to a model (a provider request), not an agent, tool or wrapper around one."""
    not_llm: bool = False
    """The convention says the span is no model call (a tool, an agent), whatever keys it also has."""
    model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    operation: str | None = None
    input_tokens: Any = None
    output_tokens: Any = None
    total_tokens: Any = None
    cache_read_tokens: Any = None
    cache_creation_tokens: Any = None
    reasoning_tokens: Any = None
    finish_reasons: Any = None
    time_to_first_chunk_s: Any = None
    prompt: str | None = None
    response: str | None = None
    question: str | None = None
    """On a request's span (not a model call): what was asked."""
    answer: str | None = None
    tool_name: str | None = None
    """On a tool call's span: the tool's name; its arguments and result (content) below."""
    tool_arguments: str | None = None
    tool_result: str | None = None
    display_name: str | None = None
    """A readable name for a span whose name is a template (Logfire's ``logfire.msg``); content."""
    request_params: dict[str, Any] = field(default_factory=dict)


READING_FIELDS = tuple(f.name for f in fields(Reading) if f.name not in ("llm", "not_llm", "request_params"))

Reader = Callable[[Mapping[str, Any], ReadableSpan], "Reading | None"]


@dataclass(frozen=True)
class Convention:
    """One convention otel-mlflow reads."""

    module: str
    """The reader's module (``__name__``)."""
    name: str
    source: str
    """Where its keys are defined, and whether MLflow reads it too (the README's table)."""
    read: Reader | None
    """``None``: translated into another convention's keys before the readers run (MLflow's own)."""
    content_keys: frozenset[str] = frozenset()
    content_prefixes: tuple[str, ...] = ()
    safe_keys: frozenset[str] = frozenset()
    """Keys known to hold names, ids or codes, never content: kept with content capture off whatever their length."""
