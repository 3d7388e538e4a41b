"""otel-mlflow benchmark (`make bench`). Every comparison runs in the same process, now, on this
machine; each figure is the median of several repeats. Prints a table and writes bench/results/latest.json.

Measured:
- on-thread cost of one `generate_answer` call instrumented by LLMServiceInstrumentor vs. the same
  function inside one bare OTel span (both with BatchSpanProcessor and a dropping exporter);
- on-thread cost of one LLM call's spans: bare OTel SDK (BatchSpanProcessor, dropping exporter) vs.
  the same spans with MLflowSpanExporter behind the processor vs. the old helper style
  (`mlflow.start_run` + `log_param`/`log_metric`/`log_text` per call) on the caller's thread;
- spans per second through `otel-mlflow receive` (OTLP protobuf over loopback) into sqlite;
- persisted LLM calls per second into a sqlite store: otel-mlflow trace mode (one run per trace)
  vs. the old helper style.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from otel_mlflow import MLflowSpanExporter  # noqa: E402
from otel_mlflow.config import Config  # noqa: E402

PROMPT = "Answer from the context.\nContext: Retrieval-Augmented Generation combines search and LLMs.\nQ: What is RAG?"
ANSWER = "RAG retrieves documents and generates an answer grounded in them."


class DropExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def llm_call(tracer) -> None:  # type: ignore[no-untyped-def]
    """The spans one instrumented LLM request makes: a root and a chat span with GenAI attributes."""
    with tracer.start_as_current_span("POST /ask") as root:
        root.set_attribute("http.route", "/ask")
        with tracer.start_as_current_span("chat gpt-4") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4")
            chat.set_attribute("gen_ai.request.temperature", 0.7)
            chat.set_attribute("gen_ai.usage.input_tokens", 42)
            chat.set_attribute("gen_ai.usage.output_tokens", 17)
            chat.set_attribute("gen_ai.input.messages", PROMPT)
            chat.set_attribute("gen_ai.output.messages", ANSWER)


def old_helper_call(mlflow) -> None:  # type: ignore[no-untyped-def]
    """What users do today on the request thread: one run per call, several blocking calls."""
    with mlflow.start_run():
        mlflow.log_param("model", "gpt-4")
        mlflow.log_param("temperature", 0.7)
        mlflow.log_metric("tokens_used", 59)
        mlflow.log_metric("latency_ms", 12.5)
        mlflow.log_text(PROMPT, "prompt.txt")
        mlflow.log_text(ANSWER, "response.txt")


def median_of(repeats: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(repeats))


def on_thread_us(provider: TracerProvider, calls: int) -> float:
    tracer = provider.get_tracer("bench")
    for _ in range(50):
        llm_call(tracer)  # warm up
    started = time.perf_counter()
    for _ in range(calls):
        llm_call(tracer)
    return (time.perf_counter() - started) / calls * 1e6


def _answer(question: str, context: str) -> dict:  # type: ignore[type-arg]
    return {"answer": ANSWER, "model": "gpt-4", "usage": {"prompt_tokens": 42, "completion_tokens": 17}}


_HAND_REQUEST = {
    "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4", "otel_mlflow.question": PROMPT,
    "otel_mlflow.context": ANSWER,
}  # fmt: skip


def bench_generate_answer(calls: int) -> tuple[float, float, float]:
    """(bare span µs, same attributes by hand µs, instrumented µs) per generate_answer call, same provider, same process."""
    import types

    from instrumentors.llm_service import LLMServiceInstrumentor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=calls * 4))
    tracer = provider.get_tracer("bench")
    module = types.ModuleType("bench_llm_service")
    module.generate_answer = _answer  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module

    def bare() -> None:
        with tracer.start_as_current_span("chat"):
            _answer(PROMPT, ANSWER)

    def by_hand() -> None:  # what a careful user would write: the same GenAI attributes, by hand
        with tracer.start_as_current_span("chat gpt-4") as span:
            span.set_attributes(_HAND_REQUEST)
            result = _answer(PROMPT, ANSWER)
            usage = result["usage"]
            span.set_attributes({"gen_ai.response.model": result["model"], "otel_mlflow.answer": result["answer"],
                                 "gen_ai.usage.input_tokens": usage["prompt_tokens"],
                                 "gen_ai.usage.output_tokens": usage["completion_tokens"]})  # fmt: skip

    def timed(fn: Callable[[], object]) -> float:
        for _ in range(100):
            fn()
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - started) / calls * 1e6

    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=["bench_llm_service:generate_answer"], tracer_provider=provider)
    try:
        bare_us = timed(bare)
        hand_us = timed(by_hand)
        instrumented_us = timed(lambda: module.generate_answer(PROMPT, ANSWER))
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return bare_us, hand_us, instrumented_us


def bench_sdk_on_thread(calls: int) -> float:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=calls * 4))
    try:
        return on_thread_us(provider, calls)
    finally:
        provider.shutdown()


def bench_otel_mlflow(workdir: Path, calls: int) -> tuple[float, float]:
    """(on-thread µs per call, persisted calls/s) for otel-mlflow in trace mode into sqlite."""
    store = workdir / f"om-{time.monotonic_ns()}"
    store.mkdir()
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={}, tracking_uri=f"sqlite:///{store / 'mlflow.db'}", artifact_location=str(store / "a"),
            experiment_name="bench", flush_interval=0.05, max_queue_size=calls * 4,
        )
    )  # fmt: skip
    exporter._writer.experiment_id()  # create the schema first: not part of the measurement
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=calls * 4, schedule_delay_millis=200))
    started = time.perf_counter()
    per_call = on_thread_us(provider, calls)
    provider.force_flush(600_000)  # hands every span to the exporter
    exporter.force_flush(600_000)  # waits until MLflow has them
    elapsed = time.perf_counter() - started
    written = exporter.stats.runs_created
    provider.shutdown()
    if written < calls:
        print(f"warning: only {written} of {calls + 50} traces written", file=sys.stderr)
    return per_call, written / elapsed


def bench_old_helper(workdir: Path, calls: int) -> float:
    """Old style calls per second (and on-thread µs = 1e6 / that)."""
    import mlflow

    store = workdir / f"old-{time.monotonic_ns()}"
    store.mkdir()
    mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
    experiment_id = mlflow.create_experiment("old", artifact_location=str(store / "a"))
    mlflow.set_experiment(experiment_id=experiment_id)
    old_helper_call(mlflow)  # warm up
    started = time.perf_counter()
    for _ in range(calls):
        old_helper_call(mlflow)
    return calls / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="LLM calls per otel-mlflow repeat")
    parser.add_argument("--old-calls", type=int, default=100, help="calls per old-helper repeat")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="otel-mlflow-bench-") as tmp:
        work = Path(tmp)
        sdk_us = median_of(args.repeats, lambda: bench_sdk_on_thread(args.calls))
        om = [bench_otel_mlflow(work, args.calls) for _ in range(args.repeats)]
        om_us = statistics.median(x[0] for x in om)
        om_rate = statistics.median(x[1] for x in om)
        old_rate = median_of(args.repeats, lambda: bench_old_helper(work, args.old_calls))
        ga = [bench_generate_answer(args.calls * 4) for _ in range(args.repeats)]
        from receiver import bench_receiver

        rc = [bench_receiver(work, args.calls, llm_call) for _ in range(args.repeats)]
    rc_accept = statistics.median(x[0] for x in rc)
    rc_persist = statistics.median(x[1] for x in rc)
    ga_bare = statistics.median(x[0] for x in ga)
    ga_hand = statistics.median(x[1] for x in ga)
    ga_ours = statistics.median(x[2] for x in ga)
    old_us = 1e6 / old_rate
    rows = [
        ("on-thread µs, generate_answer", "bare OTel span", ga_bare, "instrumented", ga_ours, ga_ours / ga_bare),
        ("on-thread µs, generate_answer", "span + GenAI attrs by hand", ga_hand, "instrumented", ga_ours,
         ga_ours / ga_hand),
        ("on-thread µs per LLM call", "bare OTel SDK", sdk_us, "otel-mlflow", om_us, om_us / sdk_us),
        ("on-thread µs per LLM call", "old helper (start_run+log_*)", old_us, "otel-mlflow", om_us, om_us / old_us),
        ("persisted calls/s, sqlite", "old helper (start_run+log_*)", old_rate, "otel-mlflow trace", om_rate,
         om_rate / old_rate),
        ("receiver spans/s, sqlite", "accepted over HTTP", rc_accept, "persisted", rc_persist, rc_persist / rc_accept),
    ]  # fmt: skip
    print(f"\n{'measure':<30} {'baseline':<30} {'value':>10}  {'otel-mlflow':<18} {'value':>10}  {'ratio':>7}")
    for measure, base, base_v, ours, ours_v, ratio in rows:
        print(f"{measure:<30} {base:<30} {base_v:>10.1f}  {ours:<18} {ours_v:>10.1f}  {ratio:>6.2f}x")
    print(f"\n(median of {args.repeats} repeats; {args.calls} calls per otel-mlflow repeat, "
          f"{args.old_calls} per old-helper repeat; ratio = otel-mlflow / baseline)")  # fmt: skip
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(
        json.dumps(
            [dict(zip(("measure", "baseline", "baseline_value", "ours", "ours_value", "ratio"), r)) for r in rows],
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
