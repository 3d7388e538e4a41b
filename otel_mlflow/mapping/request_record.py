"""One served request, summarised from its trace: what a serving window keeps per request. Pure.

Usage::

    record = request_record(spans_of_one_trace)
    record.latency_ms, record.input_tokens, record.question, record.window_key
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.cost import cost_usd
from otel_mlflow.mapping.span_facts import SpanFacts, request_answer, request_error, request_question, span_facts
from otel_mlflow.mapping.trace_run import find_root

TABLE_TEXT_CHARS = 2000
"""Question and answer text kept per request in the predictions table."""


@dataclass
class RequestRecord:
    trace_id: str
    service: str
    start_ns: int
    end_ns: int
    failed: bool
    params: dict[str, str] = field(default_factory=dict)
    input_tokens: float | None = None
    output_tokens: float | None = None
    question: str | None = None
    answer: str | None = None
    feedback: str | None = None
    session: str | None = None
    user: str | None = None
    detail_tokens: dict[str, float] = field(default_factory=dict)
    cost_usd: float | None = None
    """What its LLM calls cost (None: no price source, or a model without a price)."""
    """Cache-read, cache-creation and reasoning tokens of its LLM calls, summed by GenAI key."""
    time_to_first_chunk_ms: float | None = None
    """That of its first streamed LLM call (by start time); None when nothing streamed."""
    error: str | None = None
    """A failed request's HTTP status and the first error message among its spans."""
    span_count: int = 0
    dropped_tokens: int = 0
    """Unusable token counts on its spans (negative, non-finite, not numbers)."""
    backwards_spans: int = 0
    """Its spans that ended before they started (taken as 0 ms)."""
    trace: str | None = None
    """Whether its MLflow trace is stored, and why (:class:`otel_mlflow.mapping.trace_policy.Why`); None: linking
    is off."""
    late_spans: int = 0
    """Its spans that ended after the record was made (streamed answers, background work) and joined it."""
    spans: Sequence[ReadableSpan] = ()
    """Kept only until written, and only when runs are linked to MLflow traces."""
    span_refs: list[list[int]] = field(default_factory=list)
    """Where those spans wait in the spool (held there until the window's run links the trace; a restart reloads
    them)."""
    spans_bytes: int = 0
    """Their estimated memory, as the trace buffer measured it."""
    response_models: tuple[str, ...] = ()
    """The models that answered its LLM calls (``gen_ai.response.model``): what a silent model change shows in."""
    in_points: bool = False
    """Counted in a per-second point of its window (``OTEL_MLFLOW_STEPS=second``)."""

    def held_bytes(self) -> int:
        """An estimate of the memory this record holds while it waits to be written."""
        return 300 + len(self.question or "") + len(self.answer or "") + self.spans_bytes

    @property
    def latency_ms(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e6

    @property
    def window_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Requests share a window when service and configuration (model, temperature, k, ...) match."""
        return self.service, tuple(sorted(self.params.items()))


def request_record(spans: Sequence[ReadableSpan], capture_content: bool = True, prices: Any = None) -> RequestRecord:
    """Summarise one trace: root latency and outcome, token totals and cost (``prices``: a price source of
    :mod:`.cost`), configuration, question and answer."""
    facts = [span_facts(s) for s in spans]
    root = find_root(facts)
    llm = [f for f in facts if f.is_llm]
    record = RequestRecord(
        trace_id=root.trace_id,
        service=root.service_name or next((f.service_name for f in facts if f.service_name), None) or "unknown",
        start_ns=root.start_ns,
        end_ns=root.end_ns,
        failed=root.is_error,
    )
    _add_counts(record, facts)
    record.cost_usd = cost_usd(llm, prices)
    streamed = sorted((c.start_ns, c.time_to_first_chunk_ms) for c in llm if c.time_to_first_chunk_ms is not None)
    record.time_to_first_chunk_ms = streamed[0][1] if streamed else None
    if record.failed:
        message = request_error(root, facts)
        status = f"HTTP {root.http_status}" if root.http_status else None
        record.error = _cut(": ".join(part for part in (status, message) if part) or "error")
    record.response_models = tuple(sorted({c.response_model for c in llm if c.response_model}))
    for call in llm:
        for key, value in (("model", call.model), ("provider", call.provider), *call.request_params.items()):
            if value is not None:
                record.params.setdefault(key, str(value))
    for f in facts:
        for key, value in f.user_params.items():
            record.params.setdefault(key, str(value))
        for name, tag in (("feedback", "user_feedback"), ("session", A.SESSION_ID), ("user", A.USER_ID)):
            if getattr(record, name) is None and tag in f.user_tags:
                setattr(record, name, str(f.user_tags[tag]))
    if capture_content:
        record.question = _cut(request_question(facts))
        record.answer = _cut(request_answer(facts))
    return record


def add_late_spans(record: RequestRecord, spans: Sequence[ReadableSpan]) -> None:
    """Spans of the request that arrived after its record was made join it: their tokens add to its totals,
    an error among their LLM calls fails it, and they are counted (``late_spans``)."""
    facts = [span_facts(s) for s in spans]
    _add_counts(record, facts)
    record.late_spans += len(facts)


def _add_counts(record: RequestRecord, facts: Sequence[SpanFacts]) -> None:
    """What spans add to a record, made now or joined later: token totals, failed LLM calls, span counts."""
    llm = [f for f in facts if f.is_llm]
    for name, extra in (
        ("input_tokens", _total(c.input_tokens for c in llm)),
        ("output_tokens", _total(c.output_tokens for c in llm)),
    ):
        if extra is not None:
            setattr(record, name, (getattr(record, name) or 0) + extra)
    for call in llm:
        for key, count in call.detail_tokens.items():
            record.detail_tokens[key] = record.detail_tokens.get(key, 0) + count
    record.failed = record.failed or any(f.is_error for f in llm)
    record.dropped_tokens += sum(f.dropped_tokens for f in facts)
    record.backwards_spans += sum(f.ends_before_start for f in facts)
    record.span_count += len(facts)


_TRANSIENT = ("spans", "spans_bytes", "in_points")


def record_to_dict(record: RequestRecord) -> dict[str, Any]:
    """The record as plain JSON values, without its spans (what the spool keeps)."""
    return {f.name: getattr(record, f.name) for f in fields(RequestRecord) if f.name not in _TRANSIENT}


def record_from_dict(data: dict[str, Any]) -> RequestRecord:
    known = {f.name for f in fields(RequestRecord)} - set(_TRANSIENT)
    return RequestRecord(**{k: v for k, v in data.items() if k in known})


def _total(values: Any) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= TABLE_TEXT_CHARS:
        return text
    return text[:TABLE_TEXT_CHARS] + "..."
