"""Read what one span says about an LLM call or an HTTP request, whatever convention it follows.

Pure functions over finished spans. Every convention of :mod:`.conventions` is read, in order of preference;
MLflow's own attributes are translated into GenAI keys first (:mod:`.conventions.mlflow`)::

    facts = span_facts(span)
    facts.model, facts.input_tokens, facts.prompt
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions import Reading, read_span
from otel_mlflow.mapping.conventions.context import context_text
from otel_mlflow.mapping.conventions.mlflow import translate
from otel_mlflow.mapping.limits import finite_number
from otel_mlflow.mapping.prompt_refs import prompt_param, prompt_uris
from otel_mlflow.mapping.values import as_int, as_text, first_of, json_value, token_count


@dataclass
class SpanFacts:
    """What the mapping needs from one span, normalised across conventions."""

    name: str
    trace_id: str
    span_id: str
    start_ns: int
    end_ns: int
    is_local_root: bool
    is_error: bool
    status: str
    kind: str
    service_name: str | None = None
    error_message: str | None = None
    """Why the span failed: its status description, else its exception event's type and message."""
    run_id: str | None = None
    is_llm: bool = False
    model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    operation: str | None = None
    request_params: dict[str, Any] = field(default_factory=dict)
    input_tokens: float | None = None
    output_tokens: float | None = None
    total_tokens: float | None = None
    tokens_estimated: bool = False
    detail_tokens: dict[str, float] = field(default_factory=dict)
    """Cache-read, cache-creation and reasoning token counts, by their GenAI key (``A.DETAIL_TOKEN_KEYS``)."""
    dropped_tokens: int = 0
    ends_before_start: bool = False
    """Its end time was before its start time (clock skew between hosts, a bad clock): clamped to 0 ms."""
    """Token counts present but unusable (negative, NaN, infinite, not a number): dropped and counted."""
    finish_reasons: str | None = None
    time_to_first_chunk_ms: float | None = None
    """A streamed call's time to its first chunk (from ``gen_ai.response.time_to_first_chunk``, in seconds)."""
    prompt: str | None = None
    response: str | None = None
    context: str | None = None
    question: str | None = None
    answer: str | None = None
    tool_name: str | None = None
    """A tool call's tool (``execute_tool``, OpenInference ``TOOL``, Vercel AI ``ai.toolCall``)."""
    tool_arguments: str | None = None
    tool_result: str | None = None
    message_refs: dict[str, str] = field(default_factory=dict)
    """Where the call's messages were uploaded (``gen_ai.input.messages_ref``...): links on its run."""
    display_name: str | None = None
    """A readable name where the span's name is a template (Logfire's formatted message); content."""
    http_method: str | None = None
    http_route: str | None = None
    http_status: int | None = None
    user_params: dict[str, Any] = field(default_factory=dict)
    user_metrics: dict[str, Any] = field(default_factory=dict)
    user_tags: dict[str, Any] = field(default_factory=dict)
    step: int | None = None

    @property
    def duration_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6


def is_local_root(span: ReadableSpan) -> bool:
    """The first span of its trace in this process: no parent, or a parent in another process."""
    return span.parent is None or bool(span.parent.is_remote)


def span_facts(span: ReadableSpan) -> SpanFacts:
    """Normalise one finished span. Never raises on odd attribute types."""
    attrs: Mapping[str, Any] = translate(span.attributes)  # MLflow's own attributes, as one more convention
    ctx = span.context
    status_code = span.status.status_code if span.status is not None else StatusCode.UNSET
    resource_attrs = span.resource.attributes if span.resource is not None else {}
    http_status = as_int(first_of(attrs, A.HTTP_STATUS_CODE, A.HTTP_STATUS_CODE_OLD))
    facts = SpanFacts(
        name=str(span.name),
        trace_id=format(ctx.trace_id, "032x") if ctx is not None else "0" * 32,
        span_id=format(ctx.span_id, "016x") if ctx is not None else "0" * 16,
        start_ns=int(span.start_time or 0),
        end_ns=max(int(span.end_time or span.start_time or 0), int(span.start_time or 0)),
        ends_before_start=span.end_time is not None and span.start_time is not None and span.end_time < span.start_time,
        is_local_root=is_local_root(span),
        is_error=status_code == StatusCode.ERROR
        or (span.kind == SpanKind.SERVER and http_status is not None and http_status >= 500),
        status=status_code.name,
        kind=span.kind.name if span.kind is not None else "INTERNAL",
        service_name=as_text(resource_attrs.get(A.SERVICE_NAME)),
        run_id=as_text(attrs.get(A.RUN_ID)),
        http_method=as_text(first_of(attrs, A.HTTP_METHOD, A.HTTP_METHOD_OLD)),
        http_route=as_text(attrs.get(A.HTTP_ROUTE)),
        http_status=http_status,
    )
    if facts.is_error:
        facts.error_message = _error_message(span)
    _read_user_entries(attrs, facts)
    reading = read_span(attrs, span)
    facts.display_name = reading.display_name
    facts.tool_name, facts.tool_arguments, facts.tool_result = (
        reading.tool_name,
        reading.tool_arguments,
        reading.tool_result,
    )
    facts.is_llm = reading.llm
    facts.context = context_text(attrs)
    if facts.is_llm:
        _read_llm(reading, facts)
        facts.tokens_estimated = bool(attrs.get(A.TOKENS_ESTIMATED, False))
        facts.message_refs = {key: str(attrs[key]) for key in A.MESSAGE_REF_KEYS if key in attrs}
    else:
        facts.question, facts.answer = reading.question, reading.answer
    return facts


def request_question(facts: Sequence[SpanFacts]) -> str | None:
    """A request's question: the first span's that names one, else the first LLM call's prompt."""
    return next((f.question for f in facts if f.question), None) or next(
        (f.prompt for f in facts if f.is_llm and f.prompt), None
    )


def request_answer(facts: Sequence[SpanFacts]) -> str | None:
    """A request's answer: the first span's that names one, else the first LLM call's response."""
    return next((f.answer for f in facts if f.answer), None) or next(
        (f.response for f in facts if f.is_llm and f.response), None
    )


def request_error(root: SpanFacts, facts: Sequence[SpanFacts]) -> str | None:
    """A failed request's error message: its root's, else the first of its spans'."""
    return next((f.error_message for f in [root, *facts] if f.error_message), None)


def _error_message(span: ReadableSpan) -> str | None:
    description = span.status.description if span.status is not None else None
    if description:
        return str(description)
    for event in span.events or ():
        if event.name == "exception" and event.attributes:
            kind, message = event.attributes.get("exception.type"), event.attributes.get("exception.message")
            return ": ".join(str(part) for part in (kind, message) if part) or None
    return None


def _read_user_entries(attrs: Mapping[str, Any], facts: SpanFacts) -> None:
    for key, value in attrs.items():
        if key.startswith(A.PARAM_PREFIX):
            facts.user_params[key[len(A.PARAM_PREFIX) :]] = value
        elif key.startswith(A.METRIC_PREFIX):
            facts.user_metrics[key[len(A.METRIC_PREFIX) :]] = value
        elif key.startswith(A.TAG_PREFIX):
            facts.user_tags[key[len(A.TAG_PREFIX) :]] = value
    step = finite_number(attrs.get(A.STEP))
    facts.step = int(step) if step is not None and step >= 0 else None
    if A.MODEL_VERSION in attrs:
        facts.user_params.setdefault("model_version", attrs[A.MODEL_VERSION])
    prompts = prompt_uris(attrs)
    if prompts:  # the prompt versions used: a param, part of a window's configuration
        facts.user_params.setdefault(A.PARAM_PROMPT, prompt_param(prompts))
    for key, tag in ((A.USER_FEEDBACK, "user_feedback"), (A.SESSION_ID, A.SESSION_ID), (A.USER_ID, A.USER_ID)):
        if key in attrs:  # a request's feedback, session and user: tags of its run, columns of its window's table
            facts.user_tags.setdefault(tag, attrs[key])


def _read_llm(reading: Reading, facts: SpanFacts) -> None:
    facts.model = reading.model or reading.response_model
    facts.response_model = reading.response_model
    facts.provider, facts.operation = reading.provider, reading.operation
    facts.request_params = {k: v for k, v in reading.request_params.items() if not isinstance(v, (dict, list))}
    counts = [token_count(v) for v in (reading.input_tokens, reading.output_tokens, reading.total_tokens)]
    (facts.input_tokens, _), (facts.output_tokens, _), (facts.total_tokens, _) = counts
    facts.dropped_tokens = sum(bad for _, bad in counts)
    for key, value in zip(
        A.DETAIL_TOKEN_KEYS,
        (reading.cache_read_tokens, reading.cache_creation_tokens, reading.reasoning_tokens),
        strict=True,
    ):
        count, bad = token_count(value)
        facts.dropped_tokens += bad
        if count is not None:
            facts.detail_tokens[key] = count
    if facts.total_tokens is None and facts.input_tokens is not None and facts.output_tokens is not None:
        facts.total_tokens = facts.input_tokens + facts.output_tokens
    ttfc = finite_number(reading.time_to_first_chunk_s)
    facts.time_to_first_chunk_ms = ttfc * 1000 if ttfc is not None and ttfc >= 0 else None
    facts.finish_reasons = _reasons(reading.finish_reasons)
    facts.prompt, facts.response = reading.prompt, reading.response


def _reasons(value: Any) -> str | None:
    """Finish reasons as ``stop,length``: from an array, or JSON text of one (Logfire sends ``'["stop"]'``)."""
    if value is None:
        return None
    parsed = json_value(value)
    if isinstance(parsed, (list, tuple)):
        return ",".join(map(str, parsed)) or None
    return str(parsed)
