"""Render the shapes conventions give text in (message arrays, parts, request and response bodies) as plain text.

Pure; never raises on odd shapes::

    messages_text('[{"role": "user", "content": "Hi"}]')        # 'user: Hi'
    value_text('{"choices": [{"message": {"content": "Hello"}}]}')  # 'Hello'
    indexed_text(attrs, "llm.input_messages.", ".message.content", ".message.role")
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.mapping.values import as_text, json_value

REDACTED = frozenset({"<REDACTED>", "[REDACTED]"})
"""Placeholders SDKs write where content capture is off: never taken for text."""


def messages_text(value: Any, default_role: str | None = None) -> str | None:
    """GenAI, OpenAI, Vercel AI or Gemini messages (JSON text or a list) as ``role: text`` lines."""
    if value is None:
        return None
    parsed = json_value(value)
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        return usable(as_text(value))
    lines = []
    for message in parsed:
        if not isinstance(message, dict):
            lines.append(str(message))
            continue
        role = message.get("role", default_role)
        text = message_content(message)
        lines.append(f"{role}: {text}" if role else text)
    return "\n".join(lines) or None


def message_content(message: Mapping[str, Any]) -> str:
    """The text of one message: its ``parts`` (GenAI, Gemini) or its ``content`` (a string or a list of parts)."""
    if isinstance(message.get("parts"), list):
        return parts_text(message["parts"])
    content = message.get("content", message.get("text", ""))
    if isinstance(content, list):
        return parts_text(content)
    if isinstance(content, dict):
        return message_content(content)
    return content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)


def parts_text(parts: list[Any]) -> str:
    texts = []
    for part in parts:
        if isinstance(part, dict):
            content = part.get("content", part.get("text", part.get("result")))
            if content is None and part:
                content = part
            texts.append(content if isinstance(content, str) else json.dumps(content, ensure_ascii=False))
        else:
            texts.append(str(part))
    return "\n".join(texts)


def value_text(value: Any) -> str | None:
    """Any input or output value as text: a string, messages, a chat request (``messages``, ``contents``,
    ``prompt``) or response (``choices``, ``candidates``, ``content``, ``text``), else its JSON."""
    parsed = json_value(value)
    if parsed is None:
        return None
    if isinstance(parsed, str):
        return usable(parsed)
    if isinstance(parsed, list):
        return messages_text(parsed)
    if not isinstance(parsed, dict):
        return str(parsed)
    for key in ("messages", "contents"):
        if key in parsed:
            text = messages_text(parsed[key])
            system = as_text(parsed.get("system"))
            return "\n".join(t for t in (f"system: {system}" if system else None, text) if t) or None
    for key in ("prompt", "input", "text", "output"):
        if isinstance(parsed.get(key), str):
            return usable(parsed[key])
    choices = parsed.get("choices") or parsed.get("candidates")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        message = first.get("message") or first.get("content") or first
        return message_content(message) if isinstance(message, dict) else as_text(message)
    if isinstance(parsed.get("content"), (dict, list, str)):
        return message_content(parsed)
    if isinstance(parsed.get("message"), dict):
        return message_content(parsed["message"])
    return json.dumps(parsed, ensure_ascii=False)


def usable(text: str | None) -> str | None:
    """``text``, unless empty or a redaction placeholder."""
    return text if text and text.strip() not in REDACTED else None


def event_text(span: ReadableSpan, event_name: str, key: str) -> str | None:
    for event in span.events or ():
        if event.name == event_name and event.attributes:
            return usable(as_text(event.attributes.get(key)))
    return None


def indexed_text(attrs: Mapping[str, Any], prefix: str, suffix: str, role_suffix: str | None) -> str | None:
    """Flattened messages (``prefix{i}suffix``), in index order, with their roles."""
    found: dict[int, str] = {}
    for key, value in attrs.items():
        if key.startswith(prefix) and key.endswith(suffix):
            index = key[len(prefix) : len(key) - len(suffix)]
            if index.isdigit():
                role = attrs.get(f"{prefix}{index}{role_suffix}") if role_suffix else None
                found[int(index)] = f"{role}: {value}" if role else str(value)
    return "\n".join(found[i] for i in sorted(found)) or None


def last_user_text(text: str | None) -> str | None:
    """The last ``user:`` line of rendered messages (the question a call asked), else the text itself."""
    if not text:
        return None
    users = [line[len("user: ") :] for line in text.splitlines() if line.startswith("user: ")]
    return users[-1] if users else text
