"""What an LLM call's span says, as attributes: pure functions over the call's arguments and result.

Shared by the ``LLMServiceInstrumentor``, the ``@trace_llm`` decorator and the ``llm_span`` context
manager, so all three write the same OTel GenAI attributes. Usage::

    info = call_info(generate_answer, args, kwargs)
    span.set_attributes(request_attributes(info, capture_content=True))
    span.set_attributes(response_attributes(result, info, capture_content=True))
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from otel_mlflow import attributes as A

DEFAULT_OPERATION = "chat"
Getter = Callable[[str], Any]
_TEXT_KEYS = ("answer", "text", "content", "response", "output")
_QUESTION_NAMES = ("question", "query", "prompt", "input", "message")
_CONTEXT_NAMES = ("context", "contexts", "documents", "docs")


@dataclass
class CallInfo:
    """What is known when the call starts."""

    question: str | None = None
    context: str | None = None
    model: str | None = None
    provider: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    operation: str = DEFAULT_OPERATION

    @property
    def span_name(self) -> str:
        return f"{self.operation} {self.model}" if self.model else self.operation


def call_info(func: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> CallInfo:
    """Read question, context, model and sampling settings from a call's arguments by their names."""
    # the arguments by name, from the positions cached per function (no binding of the whole signature)
    named = {name: args[index] for name, index in _positions(func).items() if index < len(args)}
    if kwargs:
        named.update(kwargs)
    info = CallInfo()
    if named:
        info.question = _text_arg(named, _QUESTION_NAMES)
        info.context = _text_arg(named, _CONTEXT_NAMES)
        info.model = _nonempty_str(named.get("model"))
        info.provider = _nonempty_str(named.get("provider"))
        if "temperature" in named:
            info.temperature = _number(named["temperature"])
        if "max_tokens" in named:
            max_tokens = _number(named["max_tokens"])
            info.max_tokens = int(max_tokens) if max_tokens is not None else None
    if info.question is None and args and isinstance(args[0], str):
        info.question = args[0]
    return info


_POSITIONS: dict[tuple[Any, bool], dict[str, int]] = {}
_MAX_CACHED = 4096
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _positions(func: Callable[..., Any]) -> dict[str, int]:
    """Parameter name -> index among positional arguments, cached per function (``inspect.signature``
    costs more than the rest of a span)."""
    target = getattr(func, "__func__", func)
    key = (target, target is not func)
    try:
        return _POSITIONS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable callable
        return _compute_positions(func)
    positions = _compute_positions(func)
    if len(_POSITIONS) < _MAX_CACHED:
        _POSITIONS[key] = positions
    return positions


def _compute_positions(func: Callable[..., Any]) -> dict[str, int]:
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return {}
    positions = {}
    for index, param in enumerate(parameters):
        if param.kind not in _POSITIONAL:
            break
        positions[param.name] = index
    return positions


def request_attributes(info: CallInfo, capture_content: bool) -> dict[str, Any]:
    """Attributes known at the start of the call (GenAI conventions, plus ours for the context)."""
    attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: info.operation}
    if info.model:
        attrs[A.GEN_AI_REQUEST_MODEL] = info.model
    if info.provider:
        attrs[A.GEN_AI_PROVIDER_NAME] = info.provider
    if info.temperature is not None:
        attrs[A.GEN_AI_REQUEST_TEMPERATURE] = info.temperature
    if info.max_tokens is not None:
        attrs[A.GEN_AI_REQUEST_MAX_TOKENS] = info.max_tokens
    if capture_content:
        if info.question is not None:
            attrs[A.QUESTION] = info.question
            attrs[A.GEN_AI_INPUT_MESSAGES] = messages_json("user", info.question)
        if info.context:
            attrs[A.CONTEXT] = info.context
    return attrs


def response_attributes(result: Any, info: CallInfo, capture_content: bool) -> dict[str, Any]:
    """Attributes read from the call's result: usage (or an estimate), model, text, finish reasons."""
    attrs: dict[str, Any] = {}
    get = _getter(result)  # one reader for every field (the result's type is checked once)
    text = result if isinstance(result, str) else _text(get)
    reasons: list[str] = []
    usage = None
    if get is not None:
        model = _nonempty_str(get("model"))
        if model:
            attrs[A.GEN_AI_RESPONSE_MODEL] = model
            if not info.model:
                attrs[A.GEN_AI_REQUEST_MODEL] = model
        response_id = _nonempty_str(get("id"))
        if response_id:
            attrs[A.GEN_AI_RESPONSE_ID] = response_id
        reasons = _reasons(get)
        if reasons:
            attrs[A.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
        usage = _usage(get)
    attrs.update(usage_attributes(usage, info, text))
    if capture_content and text is not None:
        attrs[A.ANSWER] = text
        attrs[A.GEN_AI_OUTPUT_MESSAGES] = messages_json("assistant", text, reasons[0] if reasons else "stop")
    return attrs


def usage_attributes(usage: tuple[int, int] | None, info: CallInfo, text: str | None) -> dict[str, Any]:
    """Token counts as reported, or estimated (about 4 characters a token) and marked as such."""
    if usage is not None:  # the total is input + output: the mapping adds it up
        return {A.GEN_AI_USAGE_INPUT_TOKENS: usage[0], A.GEN_AI_USAGE_OUTPUT_TOKENS: usage[1]}
    prompt_chars = len(info.question or "") + len(info.context or "")
    if not prompt_chars and text is None:
        return {}
    input_tokens, output_tokens = estimate_tokens(prompt_chars), estimate_tokens(len(text or ""))
    return {
        A.GEN_AI_USAGE_INPUT_TOKENS: input_tokens,
        A.GEN_AI_USAGE_OUTPUT_TOKENS: output_tokens,
        A.TOKENS_ESTIMATED: True,
    }


def estimate_tokens(chars: int) -> int:
    return math.ceil(chars / 4)


def response_text(result: Any) -> str | None:
    """The answer text of a string, a dict, an object, or an OpenAI chat completion."""
    return result if isinstance(result, str) else _text(_getter(result))


def _usage(get: Getter) -> tuple[int, int] | None:
    usage = _getter(get("usage"))
    source = usage if usage is not None else get
    input_tokens = _number(_first(source, "input_tokens", "prompt_tokens"))
    output_tokens = _number(_first(source, "output_tokens", "completion_tokens"))
    if input_tokens is None or output_tokens is None:
        return None
    return int(input_tokens), int(output_tokens)


def _text(get: Getter | None) -> str | None:
    if get is None:
        return None
    choices = get("choices")
    if isinstance(choices, (list, tuple)) and choices:
        choice = _getter(choices[0])
        if choice is not None:
            message = _getter(choice("message"))
            content = message("content") if message is not None else choice("text")
            if content is not None:
                return str(content)
    for key in _TEXT_KEYS:
        value = get(key)
        if isinstance(value, str):
            return value
    return None


def _reasons(get: Getter) -> list[str]:
    choices = get("choices")
    if isinstance(choices, (list, tuple)):
        return [str(r) for r in (_field(c, "finish_reason") for c in choices) if r is not None]
    reason = get("finish_reason")
    return [str(reason)] if reason is not None else []


def chunk_text(chunk: Any) -> str:
    """Text carried by one streamed chunk: a string, or an OpenAI-style ``choices[0].delta.content``."""
    if isinstance(chunk, str):
        return chunk
    choices = _field(chunk, "choices")
    if isinstance(choices, (list, tuple)) and choices:
        delta = _field(choices[0], "delta")
        content = _field(delta, "content") if delta is not None else None
        return content if isinstance(content, str) else ""
    text = response_text(chunk)
    return text or ""


_MESSAGE_START = '[{"role":%s,"parts":[{"type":"text","content":'


def messages_json(role: str, text: str, finish_reason: str | None = None) -> str:
    """One GenAI message as the JSON of ``gen_ai.input.messages`` / ``gen_ai.output.messages``, assembled from
    JSON string literals. This runs on the request thread: ``json.dumps`` of the message list costs several
    times more (and with any keyword argument builds a new encoder per call); the json module's
    ``encode_basestring`` is its C string encoder, what ``json.dumps(text, ensure_ascii=False)`` gives."""
    reason = f',"finish_reason":{encode_basestring(finish_reason)}' if finish_reason else ""
    return f"{_MESSAGE_START % encode_basestring(role)}{encode_basestring(text)}}}]{reason}}}]"


def _getter(obj: Any) -> Getter | None:
    """A reader of ``obj``'s fields by name (a dict's keys, a mapping's, or an object's attributes; missing
    ones read as None), or None for a value that has no fields."""
    if type(obj) is dict:  # the common case first: an isinstance check against Mapping is slow
        return obj.get
    if obj is None or isinstance(obj, (str, bytes, int, float)):
        return None
    if isinstance(obj, Mapping):
        return obj.get
    return lambda name: getattr(obj, name, None)


def _field(obj: Any, name: str) -> Any:
    get = _getter(obj)
    return get(name) if get is not None else None


def _first(get: Getter, *names: str) -> Any:
    for name in names:
        value = get(name)
        if value is not None:
            return value
    return None


def _text_arg(named: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    """The first of ``names`` given as text, or as a list of texts (joined)."""
    for name in names:
        if name not in named:
            continue
        value = named[name]
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)) and value:
            return "\n\n".join(response_text(v) or str(v) for v in value)
    return None


def _nonempty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
