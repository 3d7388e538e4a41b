"""On-thread cost of one LLM call: what the request thread pays, in microseconds per call."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from instrumentors.llm_service import LLMServiceInstrumentor

QUESTION = "What is RAG?"
CONTEXT = "Retrieval-Augmented Generation combines search and LLMs."
ANSWER = "RAG retrieves documents and generates an answer grounded in them."
HAND_ATTRIBUTES = {
    "gen_ai.operation.name": "chat",
    "gen_ai.request.model": "gpt-4",
    "otel_mlflow.question": QUESTION,
    "otel_mlflow.context": CONTEXT,
}
"""Request attributes the hand-written span sets at its start; with :func:`hand_made_call` it ends with
the same attribute set (keys and values; JSON compared parsed) as the instrumented call
(tests/test_bench.py checks this, so the baseline cannot drift)."""


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def generate_answer(question: str, context: str) -> dict[str, Any]:
    return {"answer": ANSWER, "model": "gpt-4", "usage": {"prompt_tokens": 42, "completion_tokens": 17}}


def hand_made_call(tracer: Any) -> dict[str, Any]:
    """The LLM call with its GenAI span written by hand, as an app author would: the attributes known at the
    start passed to ``start_as_current_span``, the rest set from the result, messages as ``json.dumps``."""
    attributes = {
        **HAND_ATTRIBUTES,
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
    }
    with tracer.start_as_current_span("chat gpt-4", kind=SpanKind.CLIENT, attributes=attributes) as span:
        result = generate_answer(QUESTION, CONTEXT)
        usage = result["usage"]
        output = [
            {"role": "assistant", "parts": [{"type": "text", "content": result["answer"]}], "finish_reason": "stop"}
        ]
        span.set_attributes(
            {
                "gen_ai.response.model": result["model"],
                "otel_mlflow.answer": result["answer"],
                "gen_ai.usage.input_tokens": usage["prompt_tokens"],
                "gen_ai.usage.output_tokens": usage["completion_tokens"],
                "gen_ai.output.messages": json.dumps(output),
            }
        )
    return result


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    for _ in range(min(200, calls)):
        fn()
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6


SLICES = 20


def otel_variants(calls: int) -> dict[str, float]:
    """Bare span, the same GenAI attributes by hand, and the instrumented function, one provider: the median of
    ``SLICES`` interleaved slices of ``calls / SLICES`` calls each."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=calls * 4))
    tracer = provider.get_tracer("bench")
    module = types.ModuleType("bench_llm_service")
    module.generate_answer = generate_answer  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module

    def bare() -> None:
        with tracer.start_as_current_span("chat"):
            generate_answer(QUESTION, CONTEXT)

    def by_hand() -> None:
        hand_made_call(tracer)

    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=["bench_llm_service:generate_answer"], tracer_provider=provider)
    variants = {"bare": bare, "by_hand": by_hand, "instrumented": lambda: module.generate_answer(QUESTION, CONTEXT)}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for _ in range(SLICES):  # interleaved slices: the machine's drift and the SDK's export thread hit all alike
            for name, fn in variants.items():
                samples[name].append(per_call_us(fn, max(1, calls // SLICES)))
        return {name: statistics.median(values) for name, values in samples.items()}
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


def mlflow_trace_us(calls: int) -> float:
    """``@mlflow.trace`` on the same function, with MLflow tracing into a sqlite store."""
    import mlflow

    store = Path(tempfile.mkdtemp(prefix="bench-mlflow-trace-"))
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    mlflow.set_experiment(experiment_id=mlflow.create_experiment("trace", artifact_location=str(store / "a")))
    traced = mlflow.trace(generate_answer)
    try:
        return per_call_us(lambda: traced(QUESTION, CONTEXT), calls)
    finally:
        mlflow.flush_trace_async_logging(terminate=True) if hasattr(mlflow, "flush_trace_async_logging") else None


def old_helper_us(calls: int) -> float:
    """The old helper style on the request thread: a run per call with log_param/log_metric/log_text."""
    import mlflow

    store = Path(tempfile.mkdtemp(prefix="bench-old-"))
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    experiment = mlflow.create_experiment("old", artifact_location=str(store / "a"))
    return per_call_us(lambda: old_helper_call(experiment), calls)


def old_helper_call(experiment_id: str) -> None:
    """What users did on the request thread: a run per call, each value a blocking MLflow call."""
    import mlflow

    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_param("model", "gpt-4")
        mlflow.log_metric("tokens_used", 59)
        mlflow.log_metric("latency_ms", 12.5)
        mlflow.log_text(QUESTION, "prompt.txt")
        mlflow.log_text(ANSWER, "response.txt")
