"""The copy of a trace's spans that MLflow stores as a trace (its GenAI views: Overview, Traces, Sessions).

Pure: spans in, spans out. Every span is cleaned as for ``spans.json`` (secrets masked, content left out when
capture is off); each trace's local root also carries what MLflow shows as the trace's Input and Output,
``mlflow.spanInputs`` / ``mlflow.spanOutputs`` (JSON text): the request's question and answer, else its first LLM
call's prompt and response. A root that already has them (an app traced with ``@mlflow.trace``) keeps its own.
MLflow reads the rest itself from OTel conventions (checked with 3.17.2): ``gen_ai.usage.*`` become the trace's
token usage, ``session.id`` / ``user.id`` its session and user.

Retrieved documents (content capture on) become MLflow's RETRIEVER spans, the shape MLflow's RAG judges and
``extract_retrieval_context_from_trace`` read (``[{"page_content": ..., "metadata": {}}]`` as the outputs): a
retrieval span itself (OpenInference ``RETRIEVER``, GenAI ``retrieval``, or any span with our ``context`` that is no
model call), and, for documents an LLM call was given (``generate_answer(question, context)``), a ``retrieved
context`` span added beside that call, its id derived from the call's.

Usage::

    copy = mlflow_trace_spans(spans, capture_content=True, scrub=scrubber)
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.context import context_documents
from otel_mlflow.mapping.span_facts import SpanFacts, span_facts
from otel_mlflow.mapping.span_json import sanitized_span
from otel_mlflow.scrub import Scrubber

RETRIEVED_CONTEXT = "retrieved context"
"""The name of the RETRIEVER span added beside an LLM call that was given documents."""


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
            docs = context_documents(span.attributes or {}) if capture_content and fact.context else []
            if docs and not fact.is_llm and A.MLFLOW_SPAN_TYPE not in (span.attributes or {}):
                extra.update(retriever_attributes(docs, fact.question))
            out.append(sanitized_span(span, capture_content, scrub, extra))
            if docs and fact.is_llm:
                out.append(sanitized_span(retriever_span(span, docs), capture_content, scrub))
    return out


def retriever_attributes(docs: Sequence[str], query: str | None) -> dict[str, str]:
    """MLflow's RETRIEVER span type, and the documents as its outputs (its attribute values are JSON text)."""
    attributes = {
        A.MLFLOW_SPAN_TYPE: json.dumps("RETRIEVER"),
        A.MLFLOW_SPAN_OUTPUTS: json.dumps([{"page_content": d, "metadata": {}} for d in docs], ensure_ascii=False),
    }
    if query:
        attributes[A.MLFLOW_SPAN_INPUTS] = json.dumps({"query": query}, ensure_ascii=False)
    return attributes


def retriever_span(call: ReadableSpan, docs: Sequence[str]) -> ReadableSpan:
    """A RETRIEVER span beside ``call`` (same parent, ending as it starts) holding the documents it was given."""
    ctx = call.context
    digest = hashlib.blake2b(f"retrieved/{ctx.span_id:x}".encode(), digest_size=8).digest()
    return ReadableSpan(
        name=RETRIEVED_CONTEXT,
        context=SpanContext(
            ctx.trace_id, int.from_bytes(digest, "big") or 1, is_remote=False, trace_flags=ctx.trace_flags
        ),
        parent=call.parent,
        resource=call.resource,
        attributes=retriever_attributes(docs, None),
        kind=SpanKind.INTERNAL,
        start_time=call.start_time,
        end_time=call.start_time,
        instrumentation_scope=call.instrumentation_scope,
    )


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
