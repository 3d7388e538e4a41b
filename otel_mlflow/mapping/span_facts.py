"""Read what one span says about an LLM call or an HTTP request, whatever convention it follows.

Pure functions over finished spans. Conventions by preference: OTel GenAI (current, then older names),
OpenInference, Traceloop; MLflow's own attributes are translated into them first (:mod:`.mlflow_convention`)::

    facts = span_facts(span)
    facts.model, facts.input_tokens, facts.prompt
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.mapping.limits import finite_number
from otel_mlflow.mapping.mlflow_convention import translate
from otel_mlflow.mapping.span_text import context_text, prompt_text, response_text
from otel_mlflow.mapping.values import as_int, as_text, first_of, json_object, token_count

_LLM_MARKERS = (
    A.GEN_AI_OPERATION_NAME,
    A.GEN_AI_REQUEST_MODEL,
    A.GEN_AI_RESPONSE_MODEL,
    A.GEN_AI_PROVIDER_NAME,
    A.GEN_AI_SYSTEM,
    A.GEN_AI_USAGE_INPUT_TOKENS,
    A.GEN_AI_USAGE_PROMPT_TOKENS,
    A.OI_MODEL_NAME,
    A.OI_TOKEN_PROMPT,
    A.TL_REQUEST_TYPE,
)


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
        question=as_text(attrs.get(A.QUESTION)),
        answer=as_text(attrs.get(A.ANSWER)),
    )
    if facts.is_error:
        facts.error_message = _error_message(span)
    _read_user_entries(attrs, facts)
    facts.is_llm = any(key in attrs for key in _LLM_MARKERS) or attrs.get(A.OI_SPAN_KIND) == "LLM"
    facts.context = context_text(attrs)
    if facts.is_llm:
        _read_llm(span, attrs, facts)
    return facts


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
    for key, tag in ((A.USER_FEEDBACK, "user_feedback"), (A.SESSION_ID, A.SESSION_ID), (A.USER_ID, A.USER_ID)):
        if key in attrs:  # a request's feedback, session and user: tags of its run, columns of its window's table
            facts.user_tags.setdefault(tag, attrs[key])


def _read_llm(span: ReadableSpan, attrs: Mapping[str, Any], facts: SpanFacts) -> None:
    invocation = json_object(attrs.get(A.OI_INVOCATION_PARAMETERS))
    facts.model = as_text(first_of(attrs, A.GEN_AI_REQUEST_MODEL, A.OI_MODEL_NAME)) or as_text(invocation.get("model"))
    facts.response_model = as_text(attrs.get(A.GEN_AI_RESPONSE_MODEL))
    facts.model = facts.model or facts.response_model
    facts.provider = as_text(first_of(attrs, A.GEN_AI_PROVIDER_NAME, A.GEN_AI_SYSTEM, A.OI_PROVIDER, A.OI_SYSTEM))
    facts.operation = as_text(first_of(attrs, A.GEN_AI_OPERATION_NAME, A.TL_REQUEST_TYPE))
    for param, key in (
        ("temperature", A.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", A.GEN_AI_REQUEST_TOP_P),
        ("top_k", A.GEN_AI_REQUEST_TOP_K),
        ("max_tokens", A.GEN_AI_REQUEST_MAX_TOKENS),
        ("seed", A.GEN_AI_REQUEST_SEED),
    ):
        value = attrs.get(key, invocation.get(param))
        if value is not None and not isinstance(value, (dict, list)):
            facts.request_params[param] = value
    counts = [
        token_count(first_of(attrs, *keys))
        for keys in (
            (A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_PROMPT_TOKENS, A.OI_TOKEN_PROMPT),
            (A.GEN_AI_USAGE_OUTPUT_TOKENS, A.GEN_AI_USAGE_COMPLETION_TOKENS, A.OI_TOKEN_COMPLETION),
            (A.TOTAL_TOKENS, A.OI_TOKEN_TOTAL, A.TL_USAGE_TOTAL_TOKENS),
        )
    ]
    (facts.input_tokens, _), (facts.output_tokens, _), (facts.total_tokens, _) = counts
    facts.dropped_tokens = sum(bad for _, bad in counts)
    for key in A.DETAIL_TOKEN_KEYS:
        count, bad = token_count(attrs.get(key))
        facts.dropped_tokens += bad
        if count is not None:
            facts.detail_tokens[key] = count
    if facts.total_tokens is None and facts.input_tokens is not None and facts.output_tokens is not None:
        facts.total_tokens = facts.input_tokens + facts.output_tokens
    facts.tokens_estimated = bool(attrs.get(A.TOKENS_ESTIMATED, False))
    ttfc = finite_number(attrs.get(A.GEN_AI_TIME_TO_FIRST_CHUNK))
    facts.time_to_first_chunk_ms = ttfc * 1000 if ttfc is not None and ttfc >= 0 else None
    reasons = attrs.get(A.GEN_AI_RESPONSE_FINISH_REASONS)
    if reasons is not None:
        facts.finish_reasons = ",".join(map(str, reasons)) if isinstance(reasons, (list, tuple)) else str(reasons)
    facts.prompt = prompt_text(span, attrs)
    facts.response = response_text(span, attrs)
