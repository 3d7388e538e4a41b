"""The text of one span: the prompt, response and retrieved context an LLM or retrieval span carries. Pure.

Conventions by preference: OTel GenAI messages (current, then older attributes and events), OpenInference,
Traceloop::

    prompt_text(span, attrs), response_text(span, attrs), context_text(attrs)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.mapping.values import as_text, first_of, join_text, json_value


def prompt_text(span: ReadableSpan, attrs: Mapping[str, Any]) -> str | None:
    parts = []
    system = _messages_text(attrs.get(A.GEN_AI_SYSTEM_INSTRUCTIONS), default_role="system")
    if system:
        parts.append(system)
    messages = (
        _messages_text(attrs.get(A.GEN_AI_INPUT_MESSAGES))
        or as_text(attrs.get(A.GEN_AI_PROMPT))
        or _event_text(span, A.EVENT_GEN_AI_CONTENT_PROMPT, A.GEN_AI_PROMPT)
        or _indexed_text(attrs, A.OI_INPUT_MESSAGES_PREFIX, A.OI_MESSAGE_CONTENT_SUFFIX, ".message.role")
        or _indexed_text(attrs, A.TL_PROMPT_PREFIX, A.TL_CONTENT_SUFFIX, ".role")
        or as_text(first_of(attrs, A.OI_INPUT_VALUE, A.TL_ENTITY_INPUT))
    )
    if messages:
        parts.append(messages)
    return "\n\n".join(parts) or None


def response_text(span: ReadableSpan, attrs: Mapping[str, Any]) -> str | None:
    return (
        _messages_text(attrs.get(A.GEN_AI_OUTPUT_MESSAGES))
        or as_text(attrs.get(A.GEN_AI_COMPLETION))
        or _event_text(span, A.EVENT_GEN_AI_CONTENT_COMPLETION, A.GEN_AI_COMPLETION)
        or _indexed_text(attrs, A.OI_OUTPUT_MESSAGES_PREFIX, A.OI_MESSAGE_CONTENT_SUFFIX, ".message.role")
        or _indexed_text(attrs, A.TL_COMPLETION_PREFIX, A.TL_CONTENT_SUFFIX, ".role")
        or as_text(first_of(attrs, A.OI_OUTPUT_VALUE, A.TL_ENTITY_OUTPUT))
    )


def context_text(attrs: Mapping[str, Any]) -> str | None:
    own = attrs.get(A.CONTEXT)
    if own is not None:
        return join_text(own)
    docs = attrs.get(A.GEN_AI_RETRIEVAL_DOCUMENTS)
    if docs is not None:
        parsed = json_value(docs)
        if isinstance(parsed, list):
            return "\n\n".join(_doc_text(d) for d in parsed) or None
        return as_text(docs)
    return _indexed_text(attrs, A.OI_RETRIEVAL_DOCUMENTS_PREFIX, A.OI_DOCUMENT_CONTENT_SUFFIX, None)


def _doc_text(doc: Any) -> str:
    if isinstance(doc, dict):
        return str(doc.get("content", doc.get("text", json.dumps(doc, ensure_ascii=False))))
    return str(doc)


def _messages_text(value: Any, default_role: str | None = None) -> str | None:
    """Render GenAI messages (JSON string or list) as ``role: text`` lines."""
    if value is None:
        return None
    parsed = json_value(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return as_text(value)
    lines = []
    for message in parsed:
        if not isinstance(message, dict):
            lines.append(str(message))
            continue
        role = message.get("role", default_role)
        text = _message_content(message)
        lines.append(f"{role}: {text}" if role else text)
    return "\n".join(lines) or None


def _message_content(message: dict[str, Any]) -> str:
    if "parts" in message and isinstance(message["parts"], list):
        texts = []
        for part in message["parts"]:
            if isinstance(part, dict):
                content = part.get("content", part.get("text", part.get("result")))
                texts.append(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
            else:
                texts.append(str(part))
        return "\n".join(texts)
    content = message.get("content", "")
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def _event_text(span: ReadableSpan, event_name: str, key: str) -> str | None:
    for event in span.events or ():
        if event.name == event_name and event.attributes:
            return as_text(event.attributes.get(key))
    return None


def _indexed_text(attrs: Mapping[str, Any], prefix: str, suffix: str, role_suffix: str | None) -> str | None:
    found: dict[int, str] = {}
    for key, value in attrs.items():
        if key.startswith(prefix) and key.endswith(suffix):
            index = key[len(prefix) : len(key) - len(suffix)]
            if index.isdigit():
                role = attrs.get(f"{prefix}{index}{role_suffix}") if role_suffix else None
                found[int(index)] = f"{role}: {value}" if role else str(value)
    return "\n".join(found[i] for i in sorted(found)) or None
