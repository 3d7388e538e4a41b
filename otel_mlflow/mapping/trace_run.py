"""Pure mapping: a group of finished spans in, one planned set of MLflow writes out. No I/O.

Usage::

    from otel_mlflow.mapping.eval_cases import eval_cases, trace_request
from otel_mlflow.mapping.run_plan import MappingOptions
    from otel_mlflow.mapping.trace_run import plan_run

    plan = plan_run(spans_of_one_trace, MappingOptions())
    plan.params, plan.metrics, plan.tags, plan.artifacts

Every key and value in a plan already fits MLflow's limits (see :mod:`otel_mlflow.mapping.limits`):
keys are sanitised, over-long params and tags are cut and their full text moved to an artifact,
NaN/inf metrics are dropped and counted, and a param never gets two values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.text import last_user_text
from otel_mlflow.mapping.cost import cost_usd
from otel_mlflow.mapping.eval_cases import eval_cases, trace_request
from otel_mlflow.mapping.limits import clean_text
from otel_mlflow.mapping.run_plan import MappingOptions, Metric, PlanBuilder, RunPlan
from otel_mlflow.mapping.span_facts import SpanFacts, span_facts
from otel_mlflow.mapping.span_json import spans_to_list


def find_root(facts: Sequence[SpanFacts]) -> SpanFacts:
    """The local root of a group, or its earliest span when the root is not there."""
    roots = [f for f in facts if f.is_local_root]
    return min(roots or facts, key=lambda f: (f.start_ns, f.span_id))


def plan_run(
    spans: Iterable[ReadableSpan],
    options: MappingOptions,
    *,
    run_id: str | None = None,
    artifact_prefix: str = "",
) -> RunPlan:
    """Plan the MLflow writes for ``spans`` (one trace, or the spans bound to one existing run).

    With ``run_id`` the plan targets that existing run: no run name, status or end time is set, and
    artifacts go under ``artifact_prefix`` so that several traces in one run do not overwrite each other.
    """
    span_list = list(spans)
    if not span_list:
        raise ValueError("plan_run needs at least one span")
    facts = sorted((span_facts(s) for s in span_list), key=lambda f: (f.start_ns, f.span_id))
    root = find_root(facts)
    builder = _TracePlanBuilder(RunPlan(trace_id=root.trace_id, run_id=run_id), options, artifact_prefix)
    plan = builder.plan
    plan.start_ms = min(f.start_ns for f in facts) // 1_000_000
    plan.end_ms = max(f.end_ns for f in facts) // 1_000_000
    plan.failed = root.is_error
    if run_id is None:
        plan.run_name = trace_run_name(root, facts, options)
    builder.root_entries(root, facts)
    llm_calls = [f for f in facts if f.is_llm]
    for step, call in enumerate(llm_calls):
        builder.llm_call(step, call, len(llm_calls))
    builder.totals(root, facts, llm_calls)
    builder.tool_calls([f for f in facts if f.tool_name])
    for f in facts:
        builder.user_entries(f)
    if options.eval_rule is not None and options.capture_content and run_id is None:  # a case of its own
        service, request = root.service_name or "unknown", trace_request(root, facts)
        plan.eval_cases = eval_cases([request], options.eval_rule, service, plan.params, options.scrubber)
    if options.log_spans:
        span_dicts = spans_to_list(span_list, options.capture_content, options.scrubber)
        builder.json_artifact(A.ARTIFACT_SPANS, span_dicts, indent=1, scrubbed=True)
    plan.dropped_tokens = sum(f.dropped_tokens for f in facts)
    plan.backwards_spans = sum(f.ends_before_start for f in facts)
    builder.finish()
    return plan


class _TracePlanBuilder(PlanBuilder):
    """The entries of one trace's run."""

    def __init__(self, plan: RunPlan, options: MappingOptions, artifact_prefix: str) -> None:
        super().__init__(plan, options, artifact_prefix)
        self._metric_steps: dict[str, int] = {}

    # --- entries -----------------------------------------------------------------------
    def root_entries(self, root: SpanFacts, facts: Sequence[SpanFacts]) -> None:
        self.tag(A.TAG_TRACE_ID, root.trace_id)
        self.tag(A.TAG_ROOT_SPAN, root.name)
        self.tag(A.TAG_SPAN_KIND, root.kind)
        self.tag(A.TAG_STATUS, "ERROR" if root.is_error else root.status)
        service = root.service_name or next((f.service_name for f in facts if f.service_name), None)
        if service:
            self.tag(A.TAG_SERVICE_NAME, service)
        http = next((f for f in ([root] + list(facts)) if f.http_method or f.http_route), None)
        if http is not None:
            if http.http_method:
                self.tag(A.HTTP_METHOD, http.http_method)
            if http.http_route:
                self.tag(A.HTTP_ROUTE, http.http_route)
            if http.http_status is not None:
                self.tag(A.HTTP_STATUS_CODE, str(http.http_status))
        if self.options.capture_content:
            question = next((f.question for f in facts if f.question), None)
            answer = next((f.answer for f in facts if f.answer), None)
            if question:
                self.artifact("question.txt", question)
            if answer:
                self.artifact("answer.txt", answer)

    def llm_call(self, step: int, call: SpanFacts, count: int) -> None:
        self.param("model", call.model)
        self.param("provider", call.provider)
        self.param("operation", call.operation)
        for key, value in call.request_params.items():
            self.param(key, value)
        if call.response_model:
            self.tag(A.GEN_AI_RESPONSE_MODEL, call.response_model)
        if call.finish_reasons:
            self.tag(A.GEN_AI_RESPONSE_FINISH_REASONS, call.finish_reasons)
        for key, ref in call.message_refs.items():  # where the full messages are (read or not)
            self.tag(key, ref)
        if call.tokens_estimated:
            self.tag(A.TOKENS_ESTIMATED, "true")
        ts = call.end_ns // 1_000_000
        self.metric(A.METRIC_LLM_LATENCY, call.duration_ms, ts, step)
        self.metric(A.METRIC_LLM_TTFC, call.time_to_first_chunk_ms, ts, step)
        self.metric(A.GEN_AI_USAGE_INPUT_TOKENS, call.input_tokens, ts, step)
        self.metric(A.GEN_AI_USAGE_OUTPUT_TOKENS, call.output_tokens, ts, step)
        for key, tokens in call.detail_tokens.items():  # not ``count``: that is how many calls the run has
            self.metric(key, tokens, ts, step)
        if self.options.capture_content:
            folder = "" if count == 1 else f"llm_calls/{step:03d}/"
            for name, text in (("prompt", call.prompt), ("response", call.response), ("context", call.context)):
                if text:
                    self.artifact(f"{folder}{name}.txt", text)

    def totals(self, root: SpanFacts, facts: Sequence[SpanFacts], llm_calls: Sequence[SpanFacts]) -> None:
        ts = max(f.end_ns for f in facts) // 1_000_000
        self.metric(A.METRIC_LATENCY, root.duration_ms, root.end_ns // 1_000_000, 0)
        self.metric(A.METRIC_SPANS, len(facts), ts, 0)
        # failed operations: the request (root) itself and its LLM calls, not every span that saw the error
        errors = int(root.is_error) + sum(1 for c in llm_calls if c.is_error and c is not root)
        self.metric(A.METRIC_ERRORS, errors, ts, 0)
        if llm_calls:
            self.metric(A.METRIC_LLM_CALLS, len(llm_calls), ts, 0)
            for key, values in (
                (A.METRIC_INPUT_TOTAL, [c.input_tokens for c in llm_calls]),
                (A.METRIC_OUTPUT_TOTAL, [c.output_tokens for c in llm_calls]),
                (A.METRIC_TOTAL_TOKENS, [c.total_tokens for c in llm_calls]),
            ):
                known = [v for v in values if v is not None]
                if known:
                    self.metric(key, sum(known), ts, 0)
            self.metric(A.METRIC_COST, cost_usd(llm_calls, self.options.prices), ts, 0)
        if not self.options.capture_content:
            return
        context = next((f.context for f in facts if f.context and not f.is_llm), None)
        if context and not any(c.context for c in llm_calls):
            self.artifact("context.txt", context)

    def tool_calls(self, calls: Sequence[SpanFacts]) -> None:
        if not calls:
            return
        self.metric(A.METRIC_TOOL_CALLS, len(calls), max(c.end_ns for c in calls) // 1_000_000, 0)
        content = self.options.capture_content
        rows = [
            {
                "name": c.tool_name,
                "status": "ERROR" if c.is_error else c.status,
                "duration_ms": c.duration_ms,
                **({"arguments": c.tool_arguments, "result": c.tool_result} if content else {}),
            }
            for c in calls
        ]
        self.json_artifact(A.ARTIFACT_TOOL_CALLS, rows, indent=1)

    def user_entries(self, f: SpanFacts) -> None:
        for key, value in f.user_params.items():
            self.param(key, value)
        for key, value in f.user_tags.items():
            self.tag(key, value)
        ts = f.end_ns // 1_000_000
        for key, value in f.user_metrics.items():
            if f.step is not None:
                self.metric(key, value, ts, f.step, absolute=True)
                continue
            step = self._metric_steps.get(key, 0)
            self._metric_steps[key] = step + 1
            self.metric(key, value, ts, step)


__all__ = ["MappingOptions", "Metric", "RunPlan", "find_root", "plan_run"]


QUESTION_IN_NAME_CHARS = 60


def trace_run_name(root: SpanFacts, facts: Sequence[SpanFacts], options: MappingOptions) -> str:
    """``POST /ask: What is RAG?``: the root operation (its formatted message where its name is a template), then
    the start of what was asked (the question, else the first LLM prompt; content capture on), so that runs of one
    operation can be told apart in the run list."""
    name = clean_text(root.name) or "trace"
    if root.display_name and options.capture_content:  # a template's formatted message (Logfire): content
        name = clean_text(root.display_name) or name
    asked = next((f.question for f in facts if f.question), None) or next((f.prompt for f in facts if f.prompt), None)
    if asked and options.capture_content:
        asked = " ".join((last_user_text(asked) or asked).split())  # a prompt's last user message
        if len(asked) > QUESTION_IN_NAME_CHARS:
            asked = asked[: QUESTION_IN_NAME_CHARS - 1] + "…"
        name = f"{name}: {asked}"
    return options.scrubber.text(name)[:200]
