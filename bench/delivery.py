"""Delivery benchmarks: how fast export() spools, and a batch script's whole wall time.

- ``spool_append_rate``: spans/s that ``export()`` appends to the spool (OTLP protobuf, one sqlite WAL
  transaction per 512-span batch) with MLflow out of the picture, and the bytes on disk per span;
- ``batch_script``: a script of ``log_llm_call`` calls (emit, then exit waits for MLflow) against the same
  runs written directly with MLflow (create_run + log_batch + log_artifacts + end, one after another),
  each as its own Python process from start to exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.persist import serve_request
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config

BATCH = 512


def spool_append_rate(spans: int = 20_480) -> tuple[float, float]:
    """(spans/s appended by export(), spool bytes per span). Memory is set to hold nothing, so every batch
    goes to disk only and no writer work competes; the store is a closed port, so nothing is written."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for _ in range(spans // 2):
        serve_request(tracer)
    made = list(memory.get_finished_spans())
    folder = tempfile.mkdtemp(prefix="bench-spool-")
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri="http://127.0.0.1:9",
            spool_dir=folder,
            max_queue_size=1,
            retry_timeout=1,
            exit_timeout=1,
        )
    )
    started = time.perf_counter()
    for first in range(0, len(made), BATCH):
        exporter.export(made[first : first + BATCH])
    elapsed = time.perf_counter() - started
    spool = exporter._ledger.disk.spool
    on_disk = spool.bytes if spool is not None else 0
    exporter.shutdown(timeout_seconds=1)
    return len(made) / elapsed, on_disk / len(made)


_OURS = """
from otel_mlflow import log_llm_call
for i in range({calls}):
    log_llm_call(model="gpt-4", prompt=f"What is RAG? ({{i}})", response="Retrieval-augmented generation.",
                 tokens_used=59, temperature=0.2)
"""

_DIRECT = """
import json, os, tempfile
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.wiring import Pipeline, set_pipeline
from otel_mlflow.config import Config
from otel_mlflow import log_llm_call

memory = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(memory))
set_pipeline(Pipeline(provider=provider, config=Config.from_env()))
client = MlflowClient()
name = os.environ["MLFLOW_EXPERIMENT_NAME"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
for i in range({calls}):
    log_llm_call(model="gpt-4", prompt=f"What is RAG? ({{i}})", response="Retrieval-augmented generation.",
                 tokens_used=59, temperature=0.2)
    plan = plan_run(memory.get_finished_spans(), MappingOptions())  # the same data otel-mlflow writes
    memory.clear()
    run = client.create_run(experiment_id, tags=plan.tags, run_name=plan.run_name, start_time=plan.start_ms)
    client.log_batch(run.info.run_id, metrics=[Metric(m.key, m.value, m.timestamp_ms, m.step) for m in plan.metrics],
                     params=[Param(k, v) for k, v in plan.params.items()], synchronous=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in plan.artifacts.items():
            with open(os.path.join(tmp, rel), "w") as fh:
                fh.write(text)
        client.log_artifacts(run.info.run_id, tmp)
    client.set_terminated(run.info.run_id, end_time=plan.end_ms)
"""


_TIMED = """
import time
from otel_mlflow import log_llm_call
def call(i):
    log_llm_call(model="gpt-4", prompt=f"What is RAG? ({{i}})", response="Retrieval-augmented generation.",
                 tokens_used=59, temperature=0.2)
for i in range(300):  # the pipeline is built and its writer runs
    call(i)
time.sleep(2)
samples = []
for s in range(20):
    started = time.perf_counter()
    for i in range({calls} // 20):
        call(i)
    samples.append((time.perf_counter() - started) / ({calls} // 20) * 1e6)
    time.sleep(0.02)
samples.sort()
with open("result.txt", "w") as out:
    out.write(str(samples[len(samples) // 2]))
import os
os._exit(0)  # the exit's drain is not measured here (batch_script measures it)
"""


def helper_call_us(writer: str, calls: int) -> float:
    """µs per ``log_llm_call`` on the caller's thread with the real pipeline (a run per call written to sqlite
    meanwhile, default settings but ``OTEL_MLFLOW_WRITER``), the median of 20 slices, in a process of its own."""
    import signal

    work = Path(tempfile.mkdtemp(prefix=f"bench-helper-{writer}-"))
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}",
        "MLFLOW_ARTIFACT_PATH": str(work / "a"),
        "OTEL_MLFLOW_WRITER": writer,
    }
    with (work / "stderr.txt").open("w") as err:  # not a pipe: a writer process keeps it open while it drains
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(_TIMED.format(calls=calls))],
            env=env,
            cwd=work,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    for status in work.glob(".otel-mlflow-spool/*/writer.json"):  # its writer would go on draining: not measured
        try:
            os.kill(int(json.loads(status.read_text())["pid"]), signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass
    return float((work / "result.txt").read_text())


def batch_script(calls: int) -> dict[str, float]:
    """Wall seconds and runs written: otel-mlflow's batch script vs the same runs written directly."""
    out: dict[str, float] = {"calls": calls}
    for label, source in (("direct", _DIRECT), ("ours", _OURS)):
        work = Path(tempfile.mkdtemp(prefix=f"bench-batch-{label}-"))
        uri = f"sqlite:///{work / 'mlflow.db'}"
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_EXPERIMENT_NAME": "batch",
            "MLFLOW_ARTIFACT_PATH": str(work / "a"),
            "OTEL_MLFLOW_LINK_TRACES": "false",
        }
        subprocess.run(
            [sys.executable, "-c", "from mlflow import MlflowClient; MlflowClient().search_experiments()"],
            env=env,
            cwd=work,
            check=True,
        )  # the store's schema is not part of the measurement
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", textwrap.dedent(source.format(calls=calls))],
            env=env,
            cwd=work,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        out[f"{label}_seconds"] = time.perf_counter() - started
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name("batch")
        out[f"{label}_runs"] = len(client.search_runs([experiment.experiment_id], max_results=50_000))
    return out
