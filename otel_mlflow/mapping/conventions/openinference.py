"""OpenInference (Arize Phoenix and its instrumentations): ``llm.*`` keys, flattened messages, ``input.value``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention, Reading
from otel_mlflow.mapping.conventions.text import indexed_text, value_text
from otel_mlflow.mapping.values import as_text, first_of, json_object

CACHE_READ = "llm.token_count.prompt_details.cache_read"
CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
REASONING = "llm.token_count.completion_details.reasoning"
FINISH_REASON = "llm.finish_reason"
RESPONSE_MODEL = "llm.response.model_name"
ROLE = ".message.role"
TOOL_NAME = "tool.name"
NOT_LLM_KINDS = frozenset({"TOOL", "AGENT", "CHAIN", "RETRIEVER", "RERANKER", "GUARDRAIL", "EVALUATOR"})


def read(attrs: Mapping[str, Any], span: ReadableSpan) -> Reading | None:
    kind = attrs.get(A.OI_SPAN_KIND)
    if kind is None and A.OI_MODEL_NAME not in attrs and A.OI_TOKEN_PROMPT not in attrs:
        return None
    invocation = json_object(attrs.get(A.OI_INVOCATION_PARAMETERS))
    reading = Reading(
        llm=kind == "LLM" or (kind is None and (A.OI_MODEL_NAME in attrs or A.OI_TOKEN_PROMPT in attrs)),
        not_llm=kind in NOT_LLM_KINDS,
        # the model asked for: the invocation's (llm.model_name is what answered, e.g. a dated snapshot)
        model=as_text(invocation.get("model")) or as_text(attrs.get(A.OI_MODEL_NAME)),
        response_model=as_text(attrs.get(RESPONSE_MODEL)) or as_text(attrs.get(A.OI_MODEL_NAME)),
        provider=as_text(first_of(attrs, A.OI_PROVIDER, A.OI_SYSTEM)),
        input_tokens=attrs.get(A.OI_TOKEN_PROMPT),
        output_tokens=attrs.get(A.OI_TOKEN_COMPLETION),
        total_tokens=attrs.get(A.OI_TOKEN_TOTAL),
        cache_read_tokens=attrs.get(CACHE_READ),
        cache_creation_tokens=attrs.get(CACHE_WRITE),
        reasoning_tokens=attrs.get(REASONING),
        finish_reasons=attrs.get(FINISH_REASON),
        prompt=indexed_text(attrs, A.OI_INPUT_MESSAGES_PREFIX, A.OI_MESSAGE_CONTENT_SUFFIX, ROLE)
        or value_text(attrs.get(A.OI_INPUT_VALUE)),
        response=indexed_text(attrs, A.OI_OUTPUT_MESSAGES_PREFIX, A.OI_MESSAGE_CONTENT_SUFFIX, ROLE)
        or value_text(attrs.get(A.OI_OUTPUT_VALUE)),
    )
    for param in ("temperature", "top_p", "top_k", "max_tokens", "seed"):
        value = invocation.get(param)
        if value is not None and not isinstance(value, (dict, list)):
            reading.request_params[param] = value
    if kind == "TOOL":
        reading.tool_name = as_text(attrs.get(TOOL_NAME))
        reading.tool_arguments = value_text(attrs.get(A.OI_INPUT_VALUE))
        reading.tool_result = value_text(attrs.get(A.OI_OUTPUT_VALUE))
    if not reading.llm and kind in (None, "CHAIN", "AGENT"):  # a request's span: its input is the question
        reading.question, reading.answer = (
            value_text(attrs.get(A.OI_INPUT_VALUE)),
            value_text(attrs.get(A.OI_OUTPUT_VALUE)),
        )
    return reading


CONVENTION = Convention(
    module=__name__,
    name="OpenInference",
    source="Arize `openinference-semantic-conventions` (`llm.*`, `input.value`); MLflow reads it",
    read=read,
    content_keys=frozenset({A.OI_INPUT_VALUE, A.OI_OUTPUT_VALUE, "llm.prompts", "llm.tools", "embedding.text"}),
    content_prefixes=(
        A.OI_INPUT_MESSAGES_PREFIX,
        A.OI_OUTPUT_MESSAGES_PREFIX,
        A.OI_RETRIEVAL_DOCUMENTS_PREFIX,
        "embedding.embeddings.",
        "reranker.",
    ),
    safe_keys=frozenset(
        {
            A.OI_SPAN_KIND,
            A.OI_MODEL_NAME,
            RESPONSE_MODEL,
            A.OI_PROVIDER,
            A.OI_SYSTEM,
            FINISH_REASON,
            "input.mime_type",
            "output.mime_type",
            "embedding.model_name",
            TOOL_NAME,
        }
    ),
)
