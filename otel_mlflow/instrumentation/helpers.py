"""The experiment-tracking helper API, built on spans: same calls as before, now asynchronous.

Usage (the old helper module's calls, after changing one import line)::

    from otel_mlflow import init_mlflow, log_llm_call, log_prediction, log_evaluation_metrics, log_training_run

    init_mlflow()  # optional: MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME, MLFLOW_ARTIFACT_PATH
    log_llm_call(model="gpt-4", prompt="What is RAG?", response="Retrieval-Augmented Generation...",
                 tokens_used=256, temperature=0.7)
    log_prediction(question="...", answer="...", context="...", latency_ms=125.5,
                   model_version="gpt-4-turbo", user_feedback="helpful")
    log_evaluation_metrics({"rouge_1": 0.85, "bleu": 0.92})

    @log_training_run(run_name="rag-training-v1", params={"model": "gpt-4", "k": 5})
    def train(): ...

Each call records one span and returns at once; the exporter writes it to MLflow on its own thread.
Inside an MLflow run (``mlflow.start_run()`` or ``@log_training_run``) the span goes to that run;
otherwise it becomes a run of its own (or joins the request's run when a span is current).
Call :func:`otel_mlflow.flush` to wait until MLflow has everything.
"""

from __future__ import annotations

import decimal
import functools
import inspect
import json
import math
import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.config import capture_content_or_off
from otel_mlflow.instrumentation.backend import backend
from otel_mlflow.instrumentation.genai_attributes import messages_json
from otel_mlflow.instrumentation.prompts import prompt_uri_of
from otel_mlflow.instrumentation.run_binding import bound_run
from otel_mlflow.mlflow_limits import MAX_KEY_CHARS, MAX_PARAM_VALUE_CHARS, MAX_TAG_VALUE_CHARS, is_valid_key
from otel_mlflow.scrub import default_scrubber

F = TypeVar("F", bound=Callable[..., Any])


def log_llm_call(
    model: str,
    prompt: str | None,
    response: str | None,
    tokens_used: int | None = None,
    temperature: float | None = None,
    prompt_uri: Any = None,
    **extra: Any,
) -> None:
    """Record one LLM call: a GenAI ``chat`` span with model, prompt, response and token usage.

    ``prompt_uri``: the MLflow prompt version used (``prompts:/name/3`` or a ``PromptVersion``). ``extra`` values that
    are numbers become metrics; others become params.
    """
    attrs: dict[str, Any] = {A.GEN_AI_OPERATION_NAME: "chat", A.GEN_AI_REQUEST_MODEL: model}
    if prompt_uri is not None:
        attrs[A.PROMPT_URI] = prompt_uri_of(prompt_uri)
    if temperature is not None:
        attrs[A.GEN_AI_REQUEST_TEMPERATURE] = float(temperature)
    if tokens_used is not None:
        attrs[A.TOTAL_TOKENS] = int(tokens_used)
        attrs[A.METRIC_PREFIX + "tokens_used"] = int(tokens_used)  # the old helper's metric name
    if capture_content_or_off():  # a None or non-text prompt or response is recorded as text, never raised
        if prompt is not None:
            attrs[A.GEN_AI_INPUT_MESSAGES] = messages_json("user", str(prompt))
        if response is not None:
            attrs[A.GEN_AI_OUTPUT_MESSAGES] = messages_json("assistant", str(response))
    attrs.update(_extra(extra, other_prefix=A.PARAM_PREFIX))
    _record(f"chat {model}", attrs, kind=SpanKind.CLIENT)


def log_prediction(
    question: str,
    answer: str,
    context: str | None = None,
    latency_ms: float | None = None,
    model_version: str | None = None,
    user_feedback: str | None = None,
    prompt_uri: Any = None,
    **extra: Any,
) -> None:
    """Record one prediction (question, answer, context) as a span lasting ``latency_ms``.

    ``model_version`` becomes a param, ``user_feedback`` a tag, ``prompt_uri`` (``prompts:/name/3`` or a
    ``PromptVersion``) the prompt version used; ``extra`` numbers become metrics and other values tags.
    """
    attrs: dict[str, Any] = {A.PROMPT_URI: prompt_uri_of(prompt_uri)} if prompt_uri is not None else {}
    if capture_content_or_off():
        attrs[A.QUESTION] = question
        attrs[A.ANSWER] = answer
        if context is not None:
            attrs[A.CONTEXT] = context
    if model_version is not None:
        attrs[A.MODEL_VERSION] = str(model_version)
    if user_feedback is not None:
        attrs[A.USER_FEEDBACK] = str(user_feedback)
    attrs.update(_extra(extra, other_prefix=A.TAG_PREFIX))
    duration_ns = None
    if latency_ms is not None:
        latency = _metric_value("latency_ms", latency_ms)
        if math.isfinite(latency) and latency >= 0:
            duration_ns = int(latency * 1_000_000)
        attrs[A.METRIC_PREFIX + "prediction_latency_ms"] = latency
    _record("prediction", attrs, duration_ns=duration_ns)


def log_evaluation_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """Record evaluation metrics on the active MLflow run (or on a run the exporter makes).

    Every value must be a real number: anything else is a ``ValueError`` naming the key, raised before
    anything is recorded. NaN and infinite values are dropped by the exporter and counted.
    """
    if not isinstance(metrics, Mapping):
        raise TypeError(f"log_evaluation_metrics takes a dict of metric name -> number, not {type(metrics).__name__}")
    attrs = {A.METRIC_PREFIX + str(key): _metric_value(str(key), value) for key, value in metrics.items()}
    if step is not None:
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"step must be a whole number >= 0, not {step!r}")
        attrs[A.STEP] = int(step)  # numpy's integers too, as metric values are
    _record("evaluation", attrs)


def log_training_run(
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Callable[[F], F]:
    """Decorator: run the function inside an MLflow run; every span and helper call made inside,
    on this thread or in its asyncio tasks, lands in that run. ``mlflow.log_metric`` works inside too."""

    def decorate(func: F) -> F:
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _training_run(run_name or func.__name__, params, tags):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _training_run(run_name or func.__name__, params, tags):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


class _training_run:  # noqa: N801 - used as a context manager
    """An MLflow run, bound to the current context, with a root span for the function.

    Its name, params and tags are scrubbed like everything the exporter writes and checked against MLflow's
    rules before the run starts; inside another MLflow run it nests; any error ends it FAILED.
    """

    def __init__(self, run_name: str, params: Mapping[str, Any] | None, tags: Mapping[str, str] | None) -> None:
        scrub = default_scrubber()
        self.run_name = scrub.text(str(run_name))
        self.params = _checked("params", params, MAX_PARAM_VALUE_CHARS)
        self.tags = _checked("tags", tags, MAX_TAG_VALUE_CHARS)

    def __enter__(self) -> None:
        import mlflow

        helper_backend = backend()
        experiment_id = helper_backend.require_experiment()  # a server that is down fails here, within seconds
        nested = mlflow.active_run() is not None
        self._run = mlflow.start_run(
            run_name=self.run_name, tags=self.tags or None, experiment_id=experiment_id, nested=nested
        )
        try:
            if self.params:
                mlflow.log_params(self.params)
            self._bound = bound_run(self._run.info.run_id)
            self._bound.__enter__()
        except BaseException:
            mlflow.end_run("FAILED")
            raise
        self._span = helper_backend.tracer.start_span(f"training-run {self.run_name}")
        self._span.set_attribute(A.RUN_ID, self._run.info.run_id)
        self._scope = _use(self._span)
        self._scope.__enter__()

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        import mlflow
        from opentelemetry.trace import Status, StatusCode

        try:
            if exc is not None:
                self._span.record_exception(exc)
                self._span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            self._scope.__exit__(exc_type, exc, tb)
            self._span.end()
            self._bound.__exit__(exc_type, exc, tb)
        finally:
            active = mlflow.active_run()
            if active is not None and active.info.run_id == self._run.info.run_id:
                mlflow.end_run("FAILED" if exc is not None else "FINISHED")


def _checked(kind: str, entries: Mapping[str, Any] | None, max_chars: int) -> dict[str, str]:
    """``entries`` scrubbed and as MLflow will take them, or a ValueError naming the entry, before any run starts."""
    if entries is None:
        return {}
    if not isinstance(entries, Mapping):
        raise TypeError(f"log_training_run({kind}=...) takes a dict of name -> value, not {type(entries).__name__}")
    scrub = default_scrubber()
    out: dict[str, str] = {}
    for key, value in entries.items():
        if not isinstance(key, str) or not is_valid_key(key):
            raise ValueError(
                f"log_training_run: {kind} name {key!r} is not one MLflow accepts; use at most {MAX_KEY_CHARS} "
                "letters, digits and _ - . space / : (no leading /, no ..)"
            )
        text = str(scrub.value(key, value))
        if len(text) > max_chars:
            raise ValueError(
                f"log_training_run: {kind} {key!r} is {len(text)} characters, over MLflow's {max_chars}; "
                "log long text with mlflow.log_text() inside the run instead"
            )
        out[key] = text
    return out


def _use(span: Any) -> Any:
    from opentelemetry import trace

    return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


def _record(
    name: str, attrs: Mapping[str, Any], *, kind: SpanKind = SpanKind.INTERNAL, duration_ns: int | None = None
) -> None:
    """One span, started and ended now (or lasting ``duration_ns`` up to now)."""
    end = time.time_ns()
    start = end - duration_ns if duration_ns is not None else None
    span = backend().tracer.start_span(name, kind=kind, attributes=dict(attrs), start_time=start)
    span.end(end_time=end)


def _is_number(value: Any) -> bool:
    """A real number as MLflow takes it: int, float, numpy scalars, Decimal, Fraction; never a bool (numpy's
    bool is no ``numbers.Real`` either)."""
    return isinstance(value, (numbers.Real, decimal.Decimal)) and not isinstance(value, bool)


def _metric_value(key: str, value: Any) -> float:
    if not _is_number(value):
        raise ValueError(
            f"metric {key!r} must be a number, got {type(value).__name__} {value!r}; "
            "log text with log_prediction() or as a tag"
        )
    return float(value)


def _extra(extra: Mapping[str, Any], other_prefix: str) -> dict[str, Any]:
    """Numbers (not bools) become metrics; strings, bools and others become ``other_prefix`` entries."""
    out: dict[str, Any] = {}
    for key, value in extra.items():
        if _is_number(value):
            out[A.METRIC_PREFIX + key] = float(value)
        elif isinstance(value, (str, bool)):
            out[other_prefix + key] = value
        else:
            out[other_prefix + key] = json.dumps(value, default=str)
    return out
