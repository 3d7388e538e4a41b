"""The exporter against a real sqlite MLflow store (no mocks)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from tests.helpers import SpanRecorder, Store, free_port, spooled_span_count, wait_for
from tests.test_mapping import rag_trace


def test_trace_becomes_one_run_with_exact_values(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter()
    rag_trace(recorder)
    spans = recorder.take()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    root = next(s for s in spans if s.parent is None)
    assert run.info.run_name == "POST /ask: What is RAG?"
    assert run.info.status == "FINISHED"
    assert run.info.start_time == root.start_time // 1_000_000
    assert run.info.end_time == root.end_time // 1_000_000
    assert run.data.params == {"model": "gpt-4", "provider": "openai", "operation": "chat", "temperature": "0.7"}
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert run.data.metrics["gen_ai.usage.output_tokens"] == 34
    assert run.data.metrics["tokens.total"] == 46
    assert run.data.tags[A.TAG_TRACE_ID] == format(root.context.trace_id, "032x")
    assert run.data.tags["http.route"] == "/ask"
    assert run.data.tags["service.name"] == "test-service"
    assert store.artifact_text(run, "prompt.txt") == "user: What is RAG?"
    assert store.artifact_text(run, "response.txt") == "assistant: Retrieval."
    assert len(json.loads(store.artifact_text(run, "spans.json"))) == 2
    history = store.client().get_metric_history(run.info.run_id, "llm.latency_ms")
    chat = next(s for s in spans if s.parent is not None)
    assert [m.timestamp for m in history] == [chat.end_time // 1_000_000]
    assert exporter.stats.runs_created == 1 and exporter.stats.spans_written == 2


def test_children_exported_before_their_root_share_its_run(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter()
    rag_trace(recorder)
    spans = recorder.take()
    children = [s for s in spans if s.parent is not None]
    roots = [s for s in spans if s.parent is None]
    exporter.export(children)
    assert exporter.force_flush(20_000)
    assert store.runs() == []  # still waiting for the root
    exporter.export(roots)
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert run.data.tags["http.route"] == "/ask"


def test_span_that_arrives_after_its_trace_was_written_joins_the_run(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter()
    tracer = recorder.tracer
    root = tracer.start_span("POST /ask", kind=SpanKind.SERVER)
    ctx = __import__("opentelemetry.trace", fromlist=["set_span_in_context"]).set_span_in_context(root)
    late = tracer.start_span("background-eval", context=ctx)
    root.end()
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    late.set_attribute(A.METRIC_PREFIX + "faithfulness", 0.9)
    late.end()
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["faithfulness"] == 0.9


def test_span_with_run_id_lands_in_that_run(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    client = store.client()
    experiment_id = client.create_experiment("mine", artifact_location=str(store.artifacts / "mine"))
    existing = client.create_run(experiment_id, run_name="training")
    client.log_param(existing.info.run_id, "model", "gpt-4")
    exporter = make_exporter()
    for tokens in (10, 20):
        with recorder.tracer.start_as_current_span("chat") as span:
            span.set_attribute(A.RUN_ID, existing.info.run_id)
            span.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o")  # differs from the run's param
            span.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, tokens)
            span.set_attribute(A.GEN_AI_PROMPT, f"prompt {tokens}")
        exporter.export(recorder.take())
        assert exporter.force_flush(20_000)
    assert store.runs() == []  # no run made in the default experiment
    run = client.get_run(existing.info.run_id)
    assert run.data.params["model"] == "gpt-4"  # never re-logged with a changed value
    assert run.data.tags[A.TAG_PARAM_CONFLICT_PREFIX + "model"] == "gpt-4o"
    history = client.get_metric_history(existing.info.run_id, "gen_ai.usage.input_tokens")
    assert sorted((m.step, m.value) for m in history) == [(0, 10), (1, 20)]
    texts = sorted(store.artifact_text(run, p) for p in store.artifact_paths(run) if p.endswith("prompt.txt"))
    assert texts == ["prompt 10", "prompt 20"]
    assert run.info.status == "RUNNING"  # the exporter never ends a run it did not create


def test_missing_explicit_run_falls_back_to_a_new_run(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter()
    with recorder.tracer.start_as_current_span("chat") as span:
        span.set_attribute(A.RUN_ID, "0123456789abcdef0123456789abcdef")
        span.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.tags[A.TAG_MISSING_RUN] == "0123456789abcdef0123456789abcdef"
    assert run.data.params["model"] == "m"


def test_trace_without_root_is_written_after_the_timeout(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(trace_timeout=0.3)
    rag_trace(recorder)
    children = [s for s in recorder.take() if s.parent is not None]
    exporter.export(children)
    # no flush: only the timeout can release a trace whose root never comes
    assert wait_for(lambda: exporter.stats.spans_written == len(children), 20), exporter.stats
    [run] = store.runs()
    assert run.data.tags[A.TAG_INCOMPLETE] == "true"
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12


def test_shutdown_writes_incomplete_traces_and_is_idempotent(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter()
    rag_trace(recorder)
    exporter.export([s for s in recorder.take() if s.parent is not None])
    exporter.shutdown()
    exporter.shutdown()
    assert len(store.runs()) == 1
    assert exporter.export(recorder.take()) is SpanExportResult.FAILURE


def test_many_metrics_and_params_are_chunked(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter()
    with recorder.tracer.start_as_current_span("big"):  # spans hold 128 attributes by default
        for part in range(15):
            with recorder.tracer.start_as_current_span(f"part{part}") as span:
                for i in range(part * 100, part * 100 + 100):
                    span.set_attribute(f"{A.METRIC_PREFIX}m{i}", i)
        for part in range(3):
            with recorder.tracer.start_as_current_span(f"config{part}") as span:
                for i in range(part * 50, part * 50 + 50):
                    span.set_attribute(f"{A.PARAM_PREFIX}p{i}", "v" * 5000)
                    span.set_attribute(f"{A.TAG_PREFIX}t{i}", "t" * 7000)
    exporter.export(recorder.take())
    assert exporter.force_flush(60_000)
    [run] = store.runs()
    assert len([k for k in run.data.metrics if k.startswith("m")]) == 1500
    assert len([k for k in run.data.params if k.startswith("p")]) == 150
    assert len([k for k in run.data.tags if k.startswith("t")]) == 150


def test_hostile_keys_and_values_reach_mlflow_valid(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter()
    with recorder.tracer.start_as_current_span("s\ud800 name") as span:
        span.set_attribute(A.PARAM_PREFIX + "what?!*", "ok")
        span.set_attribute(A.METRIC_PREFIX + "../../etc", 1.0)
        span.set_attribute(A.METRIC_PREFIX + "nan", float("nan"))
        span.set_attribute(A.TAG_PREFIX + "k" * 400, "x" * 20_000)
    exporter.export(recorder.take())
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.params["what___"] == "ok"
    assert run.data.metrics["etc"] == 1.0
    assert "nan" not in run.data.metrics
    assert exporter.stats.metrics_dropped_non_finite == 1
    assert exporter.stats.spans_dropped_write_failed == 0


def test_memory_bound_without_spool_refuses_a_batch_whole(recorder: SpanRecorder, make_exporter: Any) -> None:
    exporter = make_exporter(max_queue_size=3, trace_timeout=60, spool=False)
    with recorder.tracer.start_as_current_span("root"):
        for _ in range(5):
            with recorder.tracer.start_as_current_span("child"):
                pass
    children = [s for s in recorder.take() if s.parent is not None]
    assert exporter.export(children) is SpanExportResult.FAILURE
    assert exporter.stats.spans_dropped_queue_full == 5  # all or nothing: never half a batch


def test_memory_bound_with_spool_spills_to_disk_and_loses_nothing(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(max_queue_size=3, trace_timeout=60)
    with recorder.tracer.start_as_current_span("root"):
        for _ in range(5):
            with recorder.tracer.start_as_current_span("child"):
                pass
    spans = recorder.take()
    children = [s for s in spans if s.parent is not None]
    assert exporter.export(children) is SpanExportResult.SUCCESS
    assert exporter.stats.spans_spilled == 5 and exporter.stats.spans_dropped_queue_full == 0
    assert exporter.export([s for s in spans if s.parent is None]) is SpanExportResult.SUCCESS
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["span_count"] == 6  # read back from disk, grouped with their root
    assert exporter.stats.spans_written == 6


def test_unreachable_mlflow_never_raises_or_blocks(recorder: SpanRecorder, make_exporter: Any) -> None:
    exporter = make_exporter(tracking_uri=f"http://127.0.0.1:{free_port()}", retry_timeout=1.0)
    rag_trace(recorder)
    spans = recorder.take()
    started = time.monotonic()
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert time.monotonic() - started < 1.0  # export only spools the spans
    assert exporter.force_flush(500) is False
    folder = exporter.spool_folder
    exporter.shutdown()  # MLflow failing for OTEL_MLFLOW_RETRY_TIMEOUT: stop, keep the spans on disk
    assert exporter.stats.spans_dropped_write_failed == 0
    assert spooled_span_count(folder) == 2


def test_unreachable_mlflow_without_spool_drops_and_counts(recorder: SpanRecorder, make_exporter: Any) -> None:
    exporter = make_exporter(tracking_uri=f"http://127.0.0.1:{free_port()}", retry_timeout=1.0, spool=False)
    rag_trace(recorder)
    assert exporter.export(recorder.take()) is SpanExportResult.SUCCESS
    exporter.shutdown()
    assert exporter.stats.spans_dropped_write_failed == 2


@pytest.mark.subprocess
def test_importing_otel_mlflow_does_not_import_mlflow() -> None:
    code = (
        "import sys, otel_mlflow; from otel_mlflow import MLflowSpanExporter; MLflowSpanExporter();"
        "print('mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_byte_bounds_refuse_whole_batches(recorder: SpanRecorder, make_exporter: Any) -> None:
    with recorder.tracer.start_as_current_span("root"):
        for _ in range(10):
            with recorder.tracer.start_as_current_span("child") as span:
                span.set_attribute(A.GEN_AI_PROMPT, "x" * 50_000)
    children = [s for s in recorder.take() if s.parent is not None]  # held: their root never comes
    in_memory = make_exporter(max_queue_bytes=200_000, trace_timeout=600, spool=False)
    assert in_memory.export(children[:2]) is SpanExportResult.SUCCESS
    assert in_memory.export(children[2:]) is SpanExportResult.FAILURE  # 400 KB more than the memory bound
    assert in_memory.stats.spans_dropped_queue_full == 8
    on_disk = make_exporter(spool_max_bytes=200_000, trace_timeout=600)
    assert on_disk.export(children[:2]) is SpanExportResult.SUCCESS
    assert on_disk.export(children[2:]) is SpanExportResult.FAILURE  # past the spool's disk bound
    assert on_disk.stats.spans_dropped_queue_full == 8
    assert 0 < on_disk.room() < 200_000


def test_drops_are_reported_as_otel_metrics(recorder: SpanRecorder, store: Store) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from otel_mlflow import MLflowSpanExporter
    from otel_mlflow.config import Config

    reader = InMemoryMetricReader()
    config = Config.from_env(
        env={},
        tracking_uri=store.uri,
        artifact_location=str(store.artifacts),
        max_queue_size=2,
        trace_timeout=600,
        spool=False,
    )
    exporter = MLflowSpanExporter(config=config, meter_provider=MeterProvider(metric_readers=[reader]))
    try:
        with recorder.tracer.start_as_current_span("root"):
            for _ in range(5):
                with recorder.tracer.start_as_current_span("child"):
                    pass
        exporter.export([s for s in recorder.take() if s.parent is not None])
        points = {
            dict(p.attributes)["outcome"]: p.value
            for m in reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
            if m.name == "otel_mlflow.export.exporter.spans"
            for p in m.data.data_points
        }
        assert points == {"received": 5, "dropped_queue_full": 5}
    finally:
        exporter.shutdown(timeout_seconds=1)


def test_writer_threads_wait_while_another_plans(
    recorder: SpanRecorder, store: Store, make_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sustained-load bench found a writer thread calling ``plan()`` ~7,000 times a second while another one
    planned (spans that came meanwhile made planning "due"; the plan lock sent it back at once): it held the GIL that
    the planner and MLflow's store needed. A thread that finds a pass under way waits for it."""
    from otel_mlflow.export.pending.ledger import Ledger

    routing, calls = threading.Event(), [0]
    real_route, real_plan = Ledger._route, Ledger.plan

    def slow_route(self: Ledger, *args: Any) -> None:  # a planning pass that takes a while (a big take-over)
        routing.set()
        time.sleep(1.0)
        real_route(self, *args)

    def counted_plan(self: Ledger, now: float) -> None:
        calls[0] += 1
        real_plan(self, now)

    monkeypatch.setattr(Ledger, "_route", slow_route)
    monkeypatch.setattr(Ledger, "plan", counted_plan)
    exporter = make_exporter(flush_interval=0.2)
    rag_trace(recorder)
    exporter.export(recorder.take())
    assert routing.wait(10)
    rag_trace(recorder)
    before = calls[0]
    exporter.export(recorder.take())  # new spans while the pass goes on
    time.sleep(0.8)
    assert calls[0] - before <= 8  # the other thread's flush interval (0.2 s) paces it, nothing more
    assert exporter.force_flush(30_000)
    assert len(store.runs()) == 2


def test_a_trace_job_behind_a_busy_one_of_its_window_is_no_reason_to_spin(
    recorder: SpanRecorder, store: Store, make_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window's syncs each make a trace-lane job of one key; the second waits for the first. It counted as due,
    so the trace lane's wait ended at once, again and again, while the first was stored (the sustained-load bench:
    ~40% of the writer process's samples). Now the wait lasts until the first is done."""
    from otel_mlflow.export.mlflow.traces import MLflowTraces
    from otel_mlflow.export.pending.jobs import Lane
    from otel_mlflow.export.pending.ledger import Ledger
    from tests.test_window import request

    storing, waits = threading.Event(), {Lane.RUNS: 0, Lane.TRACES: 0}
    real_log, real_wait = MLflowTraces.log, Ledger.wait_for_work

    def slow_log(self: MLflowTraces, *args: Any, **kwargs: Any) -> list[str]:
        storing.set()
        time.sleep(3.0)
        return real_log(self, *args, **kwargs)

    def counted_wait(self: Ledger, lane: Lane, shard: int, shards: int, now: float) -> None:
        waits[lane] += 1
        real_wait(self, lane, shard, shards, now)

    monkeypatch.setattr(MLflowTraces, "log", slow_log)
    monkeypatch.setattr(Ledger, "wait_for_work", counted_wait)
    exporter = make_exporter(run_mode="window", window_seconds=3600, steps="request", flush_interval=0.1, writers=4)
    exporter.export(request(recorder, 0, 10.0))
    assert storing.wait(20)
    exporter.export(request(recorder, 1, 10.0))  # the window's next sync: a second trace job of its key
    flushed: list[bool] = []
    flusher = threading.Thread(target=lambda: flushed.append(exporter.force_flush(30_000)))
    flusher.start()  # no grace period: the request is filed, its sync written, its trace job queued at once
    time.sleep(0.5)
    before = waits[Lane.TRACES]
    time.sleep(1.0)
    assert waits[Lane.TRACES] - before <= 30  # two trace threads, each waking once a flush interval (0.1 s) at most
    flusher.join(60)
    assert flushed == [True]
    [run] = store.runs()
    assert len(store.client().search_traces(locations=[run.info.experiment_id])) == 2


def test_a_trace_past_its_grace_period_waits_for_the_next_pass_without_spinning(
    recorder: SpanRecorder, store: Store, make_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace whose grace period (5 s for late children) ended is taken at the next planning pass, a flush interval
    at most later. The run lane's wait counted that past moment as a due time: it ended at once, again and again,
    until the pass (under load, always some trace was in that state: the writer spun)."""
    from otel_mlflow.export.pending.jobs import Lane
    from otel_mlflow.export.pending.ledger import Ledger

    waits = {Lane.RUNS: 0, Lane.TRACES: 0}
    real_wait = Ledger.wait_for_work

    def counted_wait(self: Ledger, lane: Lane, shard: int, shards: int, now: float) -> None:
        waits[lane] += 1
        real_wait(self, lane, shard, shards, now)

    monkeypatch.setattr(Ledger, "wait_for_work", counted_wait)
    exporter = make_exporter(flush_interval=3.0)
    rag_trace(recorder)
    exporter.export(recorder.take())
    assert wait_for(lambda: len(store.runs()) == 1, timeout=30)  # taken after its grace, at a pass
    assert waits[Lane.RUNS] <= 40  # a wake-up per pass and per write, not a loop
