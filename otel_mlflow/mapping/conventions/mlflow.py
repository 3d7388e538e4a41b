"""MLflow's own span attributes, read as one more convention: apps traced with ``@mlflow.trace`` or MLflow
autologging can export OTLP (``MLFLOW_ENABLE_OTLP_EXPORTER=true``) to ``otel-mlflow receive``.

MLflow writes every attribute value as JSON text (a model is ``"\\"gpt-4o-mini\\""``), and its own keys:
``mlflow.spanType`` (``LLM``, ``CHAT_MODEL``...), ``mlflow.spanInputs`` / ``mlflow.spanOutputs``,
``mlflow.chat.tokenUsage`` (``{"input_tokens", "output_tokens", "total_tokens"}``), ``mlflow.llm.model`` and
``mlflow.llm.provider`` (checked with MLflow 3.17.2). :func:`translate` decodes the values and adds the keys of
the conventions :mod:`.span_facts` reads (OTel GenAI, ours), never replacing one the span has. Pure.

Usage::

    attrs = translate(span.attributes)     # unchanged for a span MLflow did not make
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from otel_mlflow import attributes as A
from otel_mlflow.mapping.conventions.base import Convention

LLM_SPAN_TYPES = frozenset({"LLM", "CHAT_MODEL"})
QUESTION_INPUTS = ("question", "query", "input", "prompt")
"""Argument names taken as a request's question when a traced function's inputs hold one."""


def is_mlflow_span(attrs: Mapping[str, Any]) -> bool:
    return A.MLFLOW_SPAN_TYPE in attrs or A.MLFLOW_TRACE_REQUEST_ID in attrs


def translate(attrs: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``attrs`` with MLflow's JSON values decoded and its keys also given in the conventions we read; always a
    plain dict (the SDK's ``BoundedAttributes`` answers each ``get`` through the Mapping ABC: readers that look
    up some thirty keys a span pay several times what one copy costs)."""
    attrs = attrs if type(attrs) is dict else dict(attrs or {})
    if not is_mlflow_span(attrs):
        return attrs
    out: dict[str, Any] = {key: _scalar(value) for key, value in attrs.items()}
    inputs, outputs = _json(attrs.get(A.MLFLOW_SPAN_INPUTS)), _json(attrs.get(A.MLFLOW_SPAN_OUTPUTS))
    if out.get(A.MLFLOW_SPAN_TYPE) in LLM_SPAN_TYPES:
        out.setdefault(A.GEN_AI_OPERATION_NAME, "chat")
        usage = _json(attrs.get(A.MLFLOW_CHAT_USAGE))
        if isinstance(usage, dict):
            for key, ours in (
                ("input_tokens", A.GEN_AI_USAGE_INPUT_TOKENS),
                ("output_tokens", A.GEN_AI_USAGE_OUTPUT_TOKENS),
                ("total_tokens", A.TOTAL_TOKENS),
                ("cache_read_input_tokens", A.GEN_AI_USAGE_CACHE_READ),
                ("cache_creation_input_tokens", A.GEN_AI_USAGE_CACHE_CREATION),
            ):
                if usage.get(key) is not None:
                    out.setdefault(ours, usage[key])
        for key, ours in (
            (A.MLFLOW_LLM_MODEL, A.GEN_AI_REQUEST_MODEL),
            (A.MLFLOW_LLM_PROVIDER, A.GEN_AI_PROVIDER_NAME),
        ):
            if out.get(key) is not None:
                out.setdefault(ours, out[key])
        messages = inputs.get("messages") if isinstance(inputs, dict) else inputs if isinstance(inputs, list) else None
        if messages:
            out.setdefault(A.GEN_AI_INPUT_MESSAGES, json.dumps(messages, ensure_ascii=False))
        answer = _answer_text(outputs)
        if answer is not None:
            out.setdefault(A.GEN_AI_COMPLETION, answer)
    else:
        question = _question(inputs)
        if question is not None:
            out.setdefault(A.QUESTION, question)
        if isinstance(outputs, str):
            out.setdefault(A.ANSWER, outputs)
    return out


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _scalar(value: Any) -> Any:
    """A JSON-encoded scalar decoded (``"\\"gpt-4o-mini\\""`` -> ``gpt-4o-mini``); lists and objects stay text."""
    decoded = _json(value)
    return decoded if isinstance(decoded, (str, int, float, bool)) else value


def _question(inputs: Any) -> str | None:
    if isinstance(inputs, str):
        return inputs
    if isinstance(inputs, dict):
        for key in QUESTION_INPUTS:
            if isinstance(inputs.get(key), str):
                return str(inputs[key])
        texts = [v for v in inputs.values() if isinstance(v, str)]
        if len(inputs) == 1 and texts:
            return texts[0]
    return None


def _answer_text(outputs: Any) -> str | None:
    """The text of an LLM call's result: a string, or an OpenAI-style ``choices[0].message.content``."""
    if isinstance(outputs, str):
        return outputs
    if isinstance(outputs, dict):
        choices = outputs.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message")
            if isinstance(message, dict) and isinstance(message.get("content"), str):
                return str(message["content"])
    return None


CONVENTION = Convention(
    module=__name__,
    name="MLflow",
    source="`@mlflow.trace` and autologging over OTLP (`mlflow.*` JSON values, checked with MLflow 3.17): "
    "translated into GenAI keys first",
    read=None,
    content_keys=frozenset({A.MLFLOW_SPAN_INPUTS, A.MLFLOW_SPAN_OUTPUTS}),
    safe_keys=frozenset(
        {A.MLFLOW_SPAN_TYPE, A.MLFLOW_TRACE_REQUEST_ID, A.MLFLOW_CHAT_USAGE, A.MLFLOW_LLM_MODEL, A.MLFLOW_LLM_PROVIDER}
    ),
)
