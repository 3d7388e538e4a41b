"""Spans around LLM calls by hand: the ``@trace_llm`` decorator and the ``llm_span`` context manager.

They write the same attributes as ``LLMServiceInstrumentor`` (see :mod:`otel_mlflow.instrumentation.genai_attributes`)::

    from otel_mlflow import llm_span, trace_llm

    @trace_llm(model="gpt-4o-mini", provider="openai")
    def generate_answer(question: str, context: str) -> str: ...

    with llm_span(question=q, context=ctx, model="gpt-4o-mini") as call:
        answer = client.chat.completions.create(...)
        call.set_response(answer)          # text, usage, model and finish reasons are read from it

Sync, async, generator and async-generator functions are all traced; a stream's span ends when the
stream is exhausted, closed early or fails, and carries its time to first chunk
(``gen_ai.response.time_to_first_chunk``, seconds). Exceptions are recorded on the span and re-raised
unchanged. A failure inside otel-mlflow's own attribute code is logged and never reaches the call.
Content capture follows ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (default true).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider

from otel_mlflow import attributes as A
from otel_mlflow.config import capture_content_or_off
from otel_mlflow.instrumentation.genai_attributes import (
    CallInfo,
    call_info,
    chunk_text,
    request_attributes,
    response_attributes,
)
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
_warnings = RateLimitedLog(_logger)
F = TypeVar("F", bound=Callable[..., Any])
TRACER_NAME = "otel_mlflow"


@dataclass(frozen=True)
class TraceOptions:
    """How LLM-call spans are made: tracer, content capture, and fixed attributes."""

    tracer: Tracer
    capture_content: bool = True
    model: str | None = None
    provider: str | None = None
    operation: str | None = None


def make_options(
    tracer_provider: TracerProvider | None = None,
    capture_content: bool | None = None,
    **fixed: Any,
) -> TraceOptions:
    """Options with the tracer from ``tracer_provider`` (global one when None) and capture from env."""
    if capture_content is None:
        capture_content = capture_content_or_off()
    tracer = trace.get_tracer(TRACER_NAME, tracer_provider=tracer_provider)
    return TraceOptions(tracer=tracer, capture_content=capture_content, **fixed)


def safely(what: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run otel-mlflow's own code; a bug there is logged (rate-limited), never raised into the app."""
    try:
        return fn(*args)
    except Exception:  # noqa: BLE001 - instrumentation must never break the instrumented call
        _warnings.warn("own-code", "otel-mlflow could not %s; the call itself is unaffected", what, exc_info=True)
        return None


class LLMCall:
    """Handle of one LLM-call span: record the response, usage or extra attributes on it."""

    def __init__(self, span: Span, info: CallInfo, options: TraceOptions) -> None:
        self.span = span
        self.info = info
        self._options = options

    def set_response(self, result: Any) -> None:
        """Read text, usage, model and finish reasons from ``result`` (str, dict, object, OpenAI)."""
        safely("read the LLM response", self._set_response, result)

    def _set_response(self, result: Any) -> None:
        attrs = response_attributes(result, self.info, self._options.capture_content)
        self.span.set_attributes(attrs)
        if not self.info.model and attrs.get("gen_ai.request.model"):
            self.span.update_name(f"{self.info.operation} {attrs['gen_ai.request.model']}")

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def fail(self, exc: BaseException) -> None:
        self.span.record_exception(exc)
        self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.span.set_attribute("error.type", type(exc).__qualname__)


def start_call(options: TraceOptions, info: CallInfo) -> LLMCall:
    """Start (not activate) an LLM-call span with the request attributes."""
    if options.model and not info.model:
        info.model = options.model
    if options.provider and not info.provider:
        info.provider = options.provider
    if options.operation:
        info.operation = options.operation
    attributes = safely("record the LLM request", request_attributes, info, options.capture_content)
    span = options.tracer.start_span(info.span_name, kind=SpanKind.CLIENT, attributes=attributes)
    return LLMCall(span, info, options)


@contextmanager
def llm_span(
    question: str | None = None,
    context: str | None = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    temperature: float | None = None,
    operation: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Iterator[LLMCall]:
    """A current span around an LLM call made by hand; call ``set_response`` on what it yields."""
    options = make_options(tracer_provider)
    info = CallInfo(question=question, context=context, model=model, provider=provider, temperature=temperature)
    if operation:
        info.operation = operation
    call = start_call(options, info)
    with trace.use_span(call.span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield call
        except BaseException as exc:
            call.fail(exc)
            raise


def trace_llm(
    func: F | None = None,
    *,
    model: str | None = None,
    provider: str | None = None,
    operation: str | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Any:
    """Decorator: each call of ``func`` becomes an LLM-call span (sync, async, generators)."""

    def decorate(f: F) -> F:
        options_cache: list[TraceOptions] = []

        def options() -> TraceOptions:
            if not options_cache:  # resolved at first call, after the app set its provider
                options_cache.append(make_options(tracer_provider, model=model, provider=provider, operation=operation))
            return options_cache[0]

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return traced_call(f, args, kwargs, options())

        if inspect.iscoroutinefunction(f):

            @functools.wraps(f)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await traced_call(f, args, kwargs, options())

            return async_wrapper  # type: ignore[return-value]
        return wrapper  # type: ignore[return-value]

    return decorate(func) if func is not None else decorate


def traced_call(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], options: TraceOptions) -> Any:
    """Call ``func`` inside an LLM-call span. Returns what ``func`` returns (a coroutine or stream
    is returned wrapped so that the span covers it until it finishes)."""
    info = safely("read the call's arguments", call_info, func, args, kwargs) or CallInfo()
    call = start_call(options, info)
    if inspect.iscoroutinefunction(func):
        return _traced_coroutine(func, args, kwargs, call)
    token = context.attach(trace.set_span_in_context(call.span))  # cheaper than use_span on the hot path
    try:
        result = func(*args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.span.end()
        raise
    finally:
        context.detach(token)
    if inspect.isgenerator(result):
        return _traced_generator(result, call)
    if inspect.isasyncgen(result):
        return _traced_async_generator(result, call)
    call.set_response(result)
    call.span.end()
    return result


async def _traced_coroutine(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], call: LLMCall
) -> Any:
    try:
        with trace.use_span(call.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
            result = await func(*args, **kwargs)
    except BaseException as exc:
        call.fail(exc)
        call.span.end()
        raise
    if inspect.isasyncgen(result):
        return _traced_async_generator(result, call)
    call.set_response(result)
    call.span.end()
    return result


class _Stream:
    """Collects a stream's text; ends the span once, with the outcome."""

    def __init__(self, call: LLMCall) -> None:
        self.call = call
        self.parts: list[str] = []
        self.ended = False
        self.first_seen = False
        start = getattr(call.span, "start_time", None)  # the SDK span's start (epoch ns); else from now
        self.start_ns: int = start if isinstance(start, int) else time.time_ns()

    def add(self, chunk: Any) -> None:
        if not self.first_seen:  # time to first chunk, whatever the chunk holds
            self.first_seen = True
            self.call.set_attribute(A.GEN_AI_TIME_TO_FIRST_CHUNK, max(0, time.time_ns() - self.start_ns) / 1e9)
        text = safely("read a streamed chunk", chunk_text, chunk)
        if text:
            self.parts.append(text)

    def end(self, exc: BaseException | None = None, closed_early: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        if exc is not None:
            self.call.fail(exc)
        self.call.set_attribute("gen_ai.request.stream", True)
        if closed_early:
            self.call.set_attribute("otel_mlflow.stream.closed_early", True)
        self.call.set_response("".join(self.parts))
        self.call.span.end()


def _traced_generator(gen: Iterator[Any], call: LLMCall) -> Iterator[Any]:
    stream = _Stream(call)
    try:
        while True:
            with trace.use_span(call.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                try:
                    chunk = next(gen)
                except StopIteration:
                    stream.end()
                    return
            stream.add(chunk)
            yield chunk
    except GeneratorExit:
        close = getattr(gen, "close", None)
        if close is not None:
            close()
        stream.end(closed_early=True)
        raise
    except BaseException as exc:
        stream.end(exc)
        raise


async def _traced_async_generator(agen: AsyncIterator[Any], call: LLMCall) -> AsyncIterator[Any]:
    stream = _Stream(call)
    try:
        while True:
            with trace.use_span(call.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                try:
                    chunk = await agen.__anext__()
                except StopAsyncIteration:
                    stream.end()
                    return
            stream.add(chunk)
            yield chunk
    except GeneratorExit:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await aclose()
        stream.end(closed_early=True)
        raise
    except BaseException as exc:
        stream.end(exc)
        raise
