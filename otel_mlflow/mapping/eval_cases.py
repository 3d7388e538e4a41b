"""Production requests picked as evaluation cases for an MLflow GenAI evaluation dataset. Pure::

    cases = eval_cases(window.records, CaseRule(failed=True), window, Scrubber())
    # [{"inputs": {"question": ...}, "outputs": {"answer": ...} or {"error": ...},
    #   "expectations": {"user_feedback": "wrong"}, "tags": {...}, "trace_id": "<otel hex>", "trace_stored": True}]

A window's requests that the rule picks (``OTEL_MLFLOW_EVAL_RULE``: failed, slow, feedback) become records in
MLflow's dataset record shape; the writer adds them when the window's closing write has landed
(:mod:`otel_mlflow.export.mlflow.eval_dataset`). MLflow keys a dataset's records by their inputs, so a replayed write
(or the same question failing twice) is one case. Without the question (content capture off) there is no case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from otel_mlflow import attributes as A
from otel_mlflow.config.eval_rule import CaseRule
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.scrub import Scrubber

if TYPE_CHECKING:
    from otel_mlflow.mapping.window import Window

TAG_REASON = "otel_mlflow.case"
"""Why the request is a case: ``failed``, ``slow``, ``feedback=wrong``."""


def eval_cases(
    records: Sequence[RequestRecord], rule: CaseRule, window: Window, scrubber: Scrubber
) -> list[dict[str, Any]]:
    """The cases among ``records`` (a closing ``window``'s), in their order; every text through ``scrubber`` (the
    writer maps ``trace_id`` to MLflow's trace id). Call it only with content capture on."""
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
                A.TAG_SERVICE_NAME: window.service,
                A.TAG_TRACE_ID: record.trace_id,
                **{f"param.{k}": scrubber.value(k, v) for k, v in sorted(window.params.items())},
            },
            "trace_id": record.trace_id,
            "trace_stored": bool(record.trace and record.trace.startswith("stored")),
        }
        if record.feedback is not None:
            case["expectations"] = {"user_feedback": scrubber.text(record.feedback)}
        cases.append(case)
    return cases
