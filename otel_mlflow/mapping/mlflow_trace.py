"""The copy of a trace's spans that MLflow stores as a trace (its GenAI views: Overview, Traces, Sessions).

Pure: spans in, spans out. Every span is cleaned as for ``spans.json`` (secrets masked, content left out when
capture is off); each trace's local root also carries what MLflow shows as the trace's Input and Output,
``mlflow.spanInputs`` / ``mlflow.spanOutputs`` (JSON text): the request's question and answer, else its first LLM
call's prompt and response. A root that already has them (an app traced with ``@mlflow.trace``) keeps its own.
MLflow reads the rest itself from OTel conventions (checked with 3.17.2): ``gen_ai.usage.*`` become the trace's
token usage, ``session.id`` / ``user.id`` its session and user.

Usage::

    copy = mlflow_trace_spans(spans, capture_content=True, scrub=scrubber)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.span_facts import SpanFacts, span_facts
from otel_mlflow.mapping.span_json import sanitized_span
from otel_mlflow.scrub import Scrubber


def mlflow_trace_spans(spans: Sequence[ReadableSpan], capture_content: bool, scrub: Scrubber) -> list[ReadableSpan]:
    """Cleaned copies of ``spans`` (any number of traces), each trace's root with its Input and Output."""
    by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        by_trace[span.context.trace_id if span.context is not None else 0].append(span)
    out: list[ReadableSpan] = []
    for trace_spans in by_trace.values():
        facts = [span_facts(span) for span in trace_spans]
        shown = _input_output(facts) if capture_content else {}
        for span, fact in zip(trace_spans, facts, strict=True):
            extra = {k: v for k, v in shown.items() if k not in (span.attributes or {})} if fact.is_local_root else {}
            out.append(sanitized_span(span, capture_content, scrub, extra))
    return out


def _input_output(facts: Sequence[SpanFacts]) -> dict[str, str]:
    """``mlflow.spanInputs`` / ``mlflow.spanOutputs`` for the root: question and answer, else the first LLM call's."""
    question = next((f.question for f in facts if f.question), None)
    answer = next((f.answer for f in facts if f.answer), None)
    llm = sorted((f for f in facts if f.is_llm), key=lambda f: f.start_ns)
    prompt = next((f.prompt for f in llm if f.prompt), None)
    response = next((f.response for f in llm if f.response), None)
    shown: dict[str, Any] = {}
    if question or prompt:
        shown[A.MLFLOW_SPAN_INPUTS] = {"question": question} if question else {"prompt": prompt}
    if answer or response:
        shown[A.MLFLOW_SPAN_OUTPUTS] = answer or response
    return {key: json.dumps(value, ensure_ascii=False) for key, value in shown.items()}
