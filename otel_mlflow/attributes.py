"""Every span attribute key otel-mlflow reads or writes, as constants.

Keys of other conventions are grouped by their origin, in the order the mapping prefers them:
OTel GenAI semantic conventions (current, then older names), OpenInference, Traceloop, then HTTP.
Our own keys use the ``otel_mlflow.`` prefix (never ``mlflow.``, which MLflow itself uses).
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv.attributes import http_attributes, service_attributes

# --- otel-mlflow's own keys -------------------------------------------------------------
RUN_ID: Final = "otel_mlflow.run_id"
"""Stamped on a span when an MLflow run is active on the caller's thread: the span goes to that run."""
PARAM_PREFIX: Final = "otel_mlflow.param."
"""``otel_mlflow.param.k = 5`` becomes the MLflow param ``k``."""
METRIC_PREFIX: Final = "otel_mlflow.metric."
"""``otel_mlflow.metric.rouge_1 = 0.85`` becomes the MLflow metric ``rouge_1``."""
TAG_PREFIX: Final = "otel_mlflow.tag."
"""``otel_mlflow.tag.team = "search"`` becomes the MLflow tag ``team``."""
MLFLOW_SPAN_INPUTS: Final = "mlflow.spanInputs"
"""MLflow's own span attributes (JSON text): on a trace's root span they are the Input and Output its UI shows."""
MLFLOW_SPAN_OUTPUTS: Final = "mlflow.spanOutputs"
MLFLOW_SPAN_TYPE: Final = "mlflow.spanType"
MLFLOW_TRACE_REQUEST_ID: Final = "mlflow.traceRequestId"
MLFLOW_CHAT_USAGE: Final = "mlflow.chat.tokenUsage"
MLFLOW_LLM_MODEL: Final = "mlflow.llm.model"
MLFLOW_LLM_PROVIDER: Final = "mlflow.llm.provider"
SESSION_ID: Final = "session.id"
"""OpenTelemetry's session and user of a request; MLflow reads them into a trace's session and user."""
USER_ID: Final = "user.id"
QUESTION: Final = "otel_mlflow.question"
ANSWER: Final = "otel_mlflow.answer"
CONTEXT: Final = "otel_mlflow.context"
USER_FEEDBACK: Final = "otel_mlflow.user_feedback"
"""Feedback given with the request itself (``log_prediction(user_feedback=...)``)."""
FEEDBACK_TRACE_ID: Final = "otel_mlflow.feedback.trace_id"
"""On a ``feedback`` span (:func:`otel_mlflow.log_feedback`): the request's trace, OTel (32 hex) or MLflow id."""
FEEDBACK_NAME: Final = "otel_mlflow.feedback.name"
FEEDBACK_VALUE: Final = "otel_mlflow.feedback.value"
FEEDBACK_COMMENT: Final = "otel_mlflow.feedback.comment"
DEFAULT_FEEDBACK_NAME: Final = "user_feedback"
"""The name of the MLflow feedback assessment when the caller gives none."""
ASSESSMENT_KEY: Final = "otel_mlflow.feedback_key"
"""Metadata of the assessments otel-mlflow logs: the span that carried the feedback (a replay never logs it twice)."""
MODEL_VERSION: Final = "otel_mlflow.model_version"
PROMPT_URI: Final = "otel_mlflow.prompt"
"""The MLflow prompt registry versions a request used (``prompts:/name/3``; a string or a list of them), set by
:func:`otel_mlflow.use_prompt` and the helpers' ``prompt_uri``: the run param :data:`PARAM_PROMPT` (so window runs
split by it) and MLflow's prompt-version links on the run and the trace."""
MLFLOW_LINKED_PROMPTS: Final = "mlflow.linkedPrompts"
"""MLflow's own span attribute (``load_prompt`` inside an MLflow span): JSON ``[{"name": ..., "version": ...}]``."""
PARAM_PROMPT: Final = "prompt"
PROMPT_URI_PATTERN: Final = r"prompts:/([A-Za-z0-9_.\-]{1,200})/([0-9]{1,9})"
"""A prompt registry version's URI (name, version); an alias (``@production``) is not a version."""
TOKENS_ESTIMATED: Final = "otel_mlflow.usage.estimated"
STEP: Final = "otel_mlflow.step"
"""The MLflow step of the ``otel_mlflow.metric.*`` values on the same span (default: one more each time)."""
TOTAL_TOKENS: Final = "otel_mlflow.usage.total_tokens"

LOG_EVENT_SPAN: Final = "otel_mlflow.log_event"
"""The name of a span that carries one GenAI event sent as an OTLP log record to the span it belongs to (its parent):
spooled like any span, folded into that span as a span event before mapping (:mod:`otel_mlflow.mapping.log_events`)."""
LOG_EVENT_NAME: Final = "otel_mlflow.log_event.name"
LOG_EVENT_FIELDS: Final = "otel_mlflow.log_event.fields"
"""The record's attributes and body fields, as a JSON object."""

# Tags otel-mlflow writes on the runs it makes.
TAG_TRACE_ID: Final = "otel_mlflow.trace_id"
TAG_ROOT_SPAN: Final = "otel_mlflow.root_span"
TAG_SPAN_KIND: Final = "otel_mlflow.span_kind"
TAG_STATUS: Final = "otel_mlflow.status"
TAG_DROPPED_METRICS: Final = "otel_mlflow.dropped_non_finite_metrics"
TAG_DROPPED_TOKENS: Final = "otel_mlflow.dropped_token_counts"
TAG_BACKWARDS_SPANS: Final = "otel_mlflow.spans_ending_before_start"
TAG_LATE_SPANS: Final = "otel_mlflow.late_spans"
"""Spans that ended after their request's record was made and joined it (tokens counted in the totals)."""
"""Spans whose end time was before their start time: each was taken as lasting 0 ms."""
"""Token counts that were negative, NaN, infinite or not numbers, left out of the run's token metrics."""
TAG_TRUNCATED: Final = "otel_mlflow.truncated_text"
TAG_INCOMPLETE: Final = "otel_mlflow.incomplete_trace"
TAG_WRITE_KEY: Final = "otel_mlflow.write_key"
"""Names the one run a trace or serving window becomes: after a crash, looked up before creating it again."""
TAG_MISSING_RUN: Final = "otel_mlflow.missing_run_id"
TAG_WRITE_ERROR: Final = "otel_mlflow.write_error"
"""Why otel-mlflow gave up writing part of this run (which it then ended FAILED rather than leave RUNNING)."""
TAG_PARAM_CONFLICT_PREFIX: Final = "otel_mlflow.param_conflict."
TAG_RUN_MODE: Final = "otel_mlflow.run_mode"
TAG_WINDOW_START: Final = "otel_mlflow.window_start"
TAG_WINDOW_END: Final = "otel_mlflow.window_end"
TAG_REPLICA: Final = "otel_mlflow.replica"
TAG_SLO: Final = "otel_mlflow.slo"
"""On a closed window run with objectives (``OTEL_MLFLOW_SLO``): ``met`` or ``breached``."""
TAG_SLO_BREACHED: Final = "otel_mlflow.slo.breached"
"""The objectives a window breached, with its figures: ``latency_ms.p95<800 (912)``."""
METRIC_SLO_OK: Final = "slo.{metric}.ok"
"""1 when a closed window met every objective on ``metric``, else 0."""
TAG_MODEL_CHANGED: Final = "otel_mlflow.model_changed"
"""On a closed window run: the provider answered with another model than asked (``asked gpt-4o, answered
gpt-4o-mini``), or with other models than the last window of its configuration (``gpt-4o-2024-08-06 ->
gpt-4o-2024-11-20``)."""
TAG_TRACE_POLICY: Final = "otel_mlflow.trace_policy"
"""The policy that chose which MLflow traces were stored (``OTEL_MLFLOW_TRACES``)."""
TAG_TRACE_DECISION: Final = "otel_mlflow.trace"
"""On a per-trace run: whether its MLflow trace was stored, and why."""
"""The process that wrote a window run (``OTEL_MLFLOW_REPLICA``, else host/pid): each keeps its own windows."""
TAG_LOGGED_ARTIFACTS: Final = "mlflow.loggedArtifacts"
"""MLflow's own tag: lists a run's table artifacts, so its UI shows them as tables."""

# MLflow metric names otel-mlflow writes: a run per trace, and a serving window's steps and aggregates.
METRIC_LATENCY: Final = "latency_ms"
METRIC_LLM_LATENCY: Final = "llm.latency_ms"
METRIC_LLM_TTFC: Final = "llm.time_to_first_chunk_ms"
METRIC_TTFC: Final = "time_to_first_chunk_ms"
"""A request's time to first chunk: that of its first streamed LLM call (a window's step per request)."""
METRIC_TTFC_P50: Final = "time_to_first_chunk_ms.p50"
METRIC_TTFC_P95: Final = "time_to_first_chunk_ms.p95"
METRIC_INPUT_TOTAL: Final = "tokens.input_total"
METRIC_OUTPUT_TOTAL: Final = "tokens.output_total"
METRIC_TOTAL_TOKENS: Final = "tokens.total"
METRIC_LLM_CALLS: Final = "llm_calls"
METRIC_TOOL_CALLS: Final = "tool_calls"
METRIC_SPANS: Final = "span_count"
METRIC_ERRORS: Final = "error_count"
METRIC_LATENCY_P50: Final = "latency_ms.p50"
METRIC_LATENCY_P95: Final = "latency_ms.p95"
METRIC_LATENCY_P99: Final = "latency_ms.p99"
METRIC_REQUESTS: Final = "request_count"
METRIC_ERROR_RATE: Final = "error_rate"
METRIC_TOKENS_PER_SECOND: Final = "tokens_per_second"
METRIC_COST: Final = "cost_usd"
"""What a request's (or trace's) LLM calls cost, from token counts and prices; absent when a model has no price."""
METRIC_COST_TOTAL: Final = "cost_usd.total"
METRIC_FEEDBACK_PREFIX: Final = "feedback."
METRIC_PER_SECOND: Final = {
    "count": "requests.1s",
    "errors": "errors.1s",
    "p50": "latency_ms.1s.p50",
    "p95": "latency_ms.1s.p95",
    "max": "latency_ms.1s.max",
    "input_tokens": "gen_ai.usage.input_tokens.1s",
    "output_tokens": "gen_ai.usage.output_tokens.1s",
    "cost": "cost_usd.1s",
}
"""A window's per-second points (``OTEL_MLFLOW_STEPS=second``): one point per second of request ends, the step being
the seconds since the window's first request started."""
TAG_STEPS: Final = "otel_mlflow.steps"
"""What a window run's metric points are: ``request`` (a step per request) or ``second`` (per-second aggregates)."""
METRIC_TRACES_STORED: Final = "traces.stored"
METRIC_TRACES_SAMPLED_OUT: Final = "traces.sampled_out"
"""A window's requests with each feedback value: ``feedback.helpful = 3``."""
# (token counts per call and per request use the GenAI names: gen_ai.usage.input_tokens / output_tokens)

# Artifacts otel-mlflow writes.
ARTIFACT_SPANS: Final = "spans.json"
ARTIFACT_PREDICTIONS: Final = "predictions.json"
ARTIFACT_TOOL_CALLS: Final = "tool_calls.json"
"""A trace's tool calls in order: name, arguments and result (the text with content capture on only)."""
ARTIFACT_PREDICTIONS_PART: Final = "predictions-{part:03d}.json"
"""The predictions table's parts after the first, when it is over ``OTEL_MLFLOW_MAX_TEXT_CHARS`` (part 2 on)."""

# --- OTel resource (stable semantic conventions) -------------------------------------------
SERVICE_NAME: Final = service_attributes.SERVICE_NAME
TAG_SERVICE_NAME: Final = SERVICE_NAME

# --- OTel GenAI semantic conventions (current) ---------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # older name of gen_ai.provider.name
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
"""Seconds from a streamed LLM call's start to its first chunk (written by our instrumentors, read from any span)."""
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING: Final = "gen_ai.usage.reasoning.output_tokens"
DETAIL_TOKEN_KEYS: Final = (GEN_AI_USAGE_CACHE_READ, GEN_AI_USAGE_CACHE_CREATION, GEN_AI_USAGE_REASONING)
"""Token counts that detail the input or output count (part of it, never added to it): a metric each, per LLM
call in a trace's run and as window totals."""
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_INPUT_MESSAGES_REF: Final = "gen_ai.input.messages_ref"
GEN_AI_OUTPUT_MESSAGES_REF: Final = "gen_ai.output.messages_ref"
GEN_AI_SYSTEM_INSTRUCTIONS_REF: Final = "gen_ai.system_instructions_ref"
MESSAGE_REF_KEYS: Final = {
    GEN_AI_INPUT_MESSAGES_REF: GEN_AI_INPUT_MESSAGES,
    "gen_ai.input.messages.ref": GEN_AI_INPUT_MESSAGES,
    GEN_AI_OUTPUT_MESSAGES_REF: GEN_AI_OUTPUT_MESSAGES,
    "gen_ai.output.messages.ref": GEN_AI_OUTPUT_MESSAGES,
    GEN_AI_SYSTEM_INSTRUCTIONS_REF: GEN_AI_SYSTEM_INSTRUCTIONS,
}
"""Where a span's messages were uploaded (the GenAI upload hook: ``OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK=upload``),
by the key that would hold them inline; both spellings seen."""

# --- OTel GenAI semantic conventions (older names) -----------------------------------------
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_PROMPT: Final = "gen_ai.prompt"
GEN_AI_COMPLETION: Final = "gen_ai.completion"
EVENT_GEN_AI_CONTENT_PROMPT: Final = "gen_ai.content.prompt"
EVENT_GEN_AI_CONTENT_COMPLETION: Final = "gen_ai.content.completion"

# --- OpenInference -------------------------------------------------------------------------
OI_SPAN_KIND: Final = "openinference.span.kind"
OI_MODEL_NAME: Final = "llm.model_name"
OI_PROVIDER: Final = "llm.provider"
OI_SYSTEM: Final = "llm.system"
OI_TOKEN_PROMPT: Final = "llm.token_count.prompt"
OI_TOKEN_COMPLETION: Final = "llm.token_count.completion"
OI_TOKEN_TOTAL: Final = "llm.token_count.total"
OI_INVOCATION_PARAMETERS: Final = "llm.invocation_parameters"
OI_INPUT_VALUE: Final = "input.value"
OI_OUTPUT_VALUE: Final = "output.value"
OI_INPUT_MESSAGES_PREFIX: Final = "llm.input_messages."
OI_OUTPUT_MESSAGES_PREFIX: Final = "llm.output_messages."
OI_MESSAGE_CONTENT_SUFFIX: Final = ".message.content"
OI_RETRIEVAL_DOCUMENTS_PREFIX: Final = "retrieval.documents."
OI_DOCUMENT_CONTENT_SUFFIX: Final = ".document.content"

# --- Traceloop (OpenLLMetry) ---------------------------------------------------------------
TL_REQUEST_TYPE: Final = "llm.request.type"
TL_USAGE_TOTAL_TOKENS: Final = "llm.usage.total_tokens"
TL_PROMPT_PREFIX: Final = "gen_ai.prompt."
TL_COMPLETION_PREFIX: Final = "gen_ai.completion."
TL_CONTENT_SUFFIX: Final = ".content"
TL_ENTITY_INPUT: Final = "traceloop.entity.input"
TL_ENTITY_OUTPUT: Final = "traceloop.entity.output"

# --- HTTP, old and stable conventions -------------------------------------------------------
HTTP_METHOD_OLD: Final = "http.method"
HTTP_METHOD: Final = http_attributes.HTTP_REQUEST_METHOD
HTTP_STATUS_CODE_OLD: Final = "http.status_code"
HTTP_STATUS_CODE: Final = http_attributes.HTTP_RESPONSE_STATUS_CODE
HTTP_ROUTE: Final = http_attributes.HTTP_ROUTE

# Secret keys and values: otel_mlflow.scrub (one set of rules for every way out).
