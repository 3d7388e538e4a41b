"""Volume: a batch script's 3,000 helper calls all land at exit; a 20,000-request burst is kept whole
while memory stays within its bound (the rest waits on disk)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

from otel_mlflow import MLflowSpanExporter
from otel_mlflow import attributes as A
from otel_mlflow.config import Config
from tests.helpers import Store

BATCH_CALLS = 3_000
BURST_REQUESTS = 20_000


@pytest.mark.subprocess
def test_a_batch_script_of_3000_helper_calls_exits_with_3000_runs(store: Store) -> None:
    """The old guide's use: a loop of log_llm_call into the default sqlite store, then the script ends."""
    script = textwrap.dedent(f"""
        from otel_mlflow import log_llm_call
        for i in range({BATCH_CALLS}):
            log_llm_call(model="gpt-4", prompt=f"question {{i}}", response="answer", tokens_used=7, temperature=0.2)
        """)
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)}
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=store.root, timeout=900
    )
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-3000:]
    runs = store.runs()
    prompts = Counter(r.data.tags[A.TAG_TRACE_ID] for r in runs)
    assert len(runs) == BATCH_CALLS and len(prompts) == BATCH_CALLS, f"{len(runs)} runs of {BATCH_CALLS}"
    assert "writing to MLflow before exit" in out.stderr  # the wait at exit is shown, not silent
    print(f"batch script: {len(runs)} runs written of {BATCH_CALLS} in {elapsed:.1f} s")


@pytest.mark.slow
def test_a_burst_of_20000_requests_is_kept_whole_with_memory_bounded(store: Store) -> None:
    bound = 4_000
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri=store.uri,
            artifact_location=str(store.artifacts),
            run_mode="window",
            max_queue_size=bound,
            window_seconds=3600,
        )
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "burst"}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=2 * BURST_REQUESTS + 1024))
    tracer = provider.get_tracer("burst")
    held: list[int] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            held.append(exporter.memory_held()[0])
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    for i in range(BURST_REQUESTS):
        with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER, attributes={"http.route": "/ask"}):
            with tracer.start_as_current_span("chat demo", kind=SpanKind.CLIENT) as chat:
                chat.set_attributes(
                    {
                        A.GEN_AI_REQUEST_MODEL: "demo",
                        A.GEN_AI_USAGE_INPUT_TOKENS: i % 50,
                        A.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                    }
                )
    provider.shutdown()  # exit: writes everything, waiting while MLflow makes progress
    sampling.set()
    sampler.join()
    stats = exporter.stats
    assert stats.spans_received == 2 * BURST_REQUESTS and stats.spans_dropped_queue_full == 0
    kept = sum(int(r.data.metrics["request_count"]) for r in store.runs())
    assert kept == BURST_REQUESTS, f"{kept} of {BURST_REQUESTS} requests in the window runs"
    assert stats.spans_spilled > 0  # the burst outran MLflow: the backlog waited on disk
    assert max(held) <= 2 * bound, max(held)  # memory held stayed bounded (read-back slack included)
    print(f"burst: {kept} of {BURST_REQUESTS} kept, {stats.spans_spilled} spans spilled, at most {max(held)} held")
