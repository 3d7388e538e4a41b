"""Production requests picked as evaluation cases for an MLflow GenAI evaluation dataset. Pure::

    cases = eval_cases(window.records, CaseRule(failed=True), window.service, window.params, Scrubber())
    cases = eval_cases([trace_request(root, facts)], rule, service, params, Scrubber())   # a per-trace run
    # [{"inputs": {"question": ...}, "outputs": {"answer": ...} or {"error": ...},
    #   "expectations": {"user_feedback": "wrong"}, "tags": {...}, "trace_id": "<otel hex>", "trace_stored": True}]

A closing window's requests (or a per-trace run's request) that the rule picks (``OTEL_MLFLOW_EVAL_RULE``: failed,
slow, feedback) become records in MLflow's dataset record shape; the writer adds them once the run has ended
(:mod:`otel_mlflow.export.mlflow.eval_dataset`). MLflow keys a dataset's records by their inputs, so a replayed write
(or the same question failing twice) is one case. Without the question (content capture off) there is no case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from otel_mlflow import attributes as A
from otel_mlflow.config.eval_rule import CaseRule
from otel_mlflow.mapping.span_facts import SpanFacts, request_answer, request_error, request_question
from otel_mlflow.scrub import Scrubber

TAG_REASON = "otel_mlflow.case"
"""Why the request is a case: ``failed``, ``slow``, ``feedback=wrong``."""


class Request(Protocol):
    """What a case is made of: a window's request record, or :class:`TraceRequest`."""

    trace_id: str
    failed: bool
    question: str | None
    answer: str | None
    error: str | None
    feedback: str | None
    trace: str | None

    @property
    def latency_ms(self) -> float: ...


@dataclass
class TraceRequest:
    trace_id: str
    failed: bool
    latency_ms: float
    question: str | None
    answer: str | None
    error: str | None
    feedback: str | None
    trace: str | None = None
    """Not known when a per-trace run is planned (its trace is stored later): such a case has no source."""


def trace_request(root: SpanFacts, facts: Sequence[SpanFacts]) -> TraceRequest:
    """A per-trace run's request: its root's outcome and time, the first question and answer of its spans."""
    feedback = next((f.user_tags["user_feedback"] for f in facts if "user_feedback" in f.user_tags), None)
    return TraceRequest(
        trace_id=root.trace_id,
        failed=root.is_error,
        latency_ms=root.duration_ms,
        question=request_question(facts),
        answer=request_answer(facts),
        error=request_error(root, facts),
        feedback=None if feedback is None else str(feedback),
    )


def eval_cases(
    records: Sequence[Request], rule: CaseRule, service: str, params: Mapping[str, Any], scrubber: Scrubber
) -> list[dict[str, Any]]:
    """The cases among ``records`` (of ``service`` with the configuration ``params``), in their order; every text
    through ``scrubber`` (the writer maps ``trace_id`` to MLflow's trace id). Call it only with content capture on."""
    cases: list[dict[str, Any]] = []
    for record in records:
        reason = rule.reason(record.failed, record.latency_ms, record.feedback)
        if reason is None or not record.question:
            continue
        outputs = {"answer": record.answer} if record.answer else {"error": record.error or "failed"}
        case: dict[str, Any] = {
            "inputs": {"question": scrubber.text(record.question)},
            "outputs": {key: scrubber.text(text) for key, text in outputs.items()},
            "tags": {
                TAG_REASON: reason,
                A.TAG_SERVICE_NAME: service,
                A.TAG_TRACE_ID: record.trace_id,
                **{f"param.{k}": str(scrubber.value(k, v)) for k, v in sorted(params.items())},
            },
            "trace_id": record.trace_id,
            "trace_stored": bool(record.trace and record.trace.startswith("stored")),
        }
        if record.feedback is not None:
            case["expectations"] = {"user_feedback": scrubber.text(record.feedback)}
        cases.append(case)
    return cases
