"""Sustained load past MLflow's trace capacity (issue 27): default settings, the real pipeline in one process.

A served app's requests (a SERVER root and a chat span; one in 50 failed) are made in real time at three times
the rate MLflow stores traces by hand in the same run, through the SDK's BatchSpanProcessor into our exporter
writing to a sqlite store. Sampled every second: how late the runs are (``lag().runs_seconds``) and the spool's
size on disk. At the end: requests counted in window runs against requests made, traces stored against what the
raw ceiling could store in that time, and whether every failed request's trace is in MLflow::

    python -m bench.sustained --seconds 300
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.persist import prepare_experiment, request_spans
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config

FAILED_EVERY = 50


def raw_trace_rate(uri: str, artifacts: str, traces: int = 200, repeats: int = 3) -> float:
    """Traces a second MLflow stores when given them by hand, by the calls otel-mlflow makes, with nothing else
    running: the median of ``repeats`` runs of ``traces`` (one run alone varied from 120 to 210 a second here)."""
    import statistics

    from mlflow import MlflowClient

    from otel_mlflow.export.mlflow.traces import MLflowTraces

    client = MlflowClient(tracking_uri=uri)
    rates = []
    for _ in range(repeats):
        experiment = client.create_experiment(f"raw-traces-{time.monotonic_ns()}", artifact_location=artifacts)
        run = client.create_run(experiment)
        spans = request_spans(traces)
        started = time.perf_counter()
        MLflowTraces(uri).log(client, experiment, run.info.run_id, spans)
        rates.append(traces / (time.perf_counter() - started))
    return statistics.median(rates)


def traces_in_store(uri: str, experiment_name: str) -> int:
    """MLflow traces of the experiment now, counted in the sqlite file itself (``search_traces`` pages 500 at a time:
    too slow to count tens of thousands while the traffic ends)."""
    import sqlite3

    with sqlite3.connect(f"file:{uri.removeprefix('sqlite:///')}?mode=ro", uri=True, timeout=30) as db:
        query = "SELECT COUNT(*) FROM trace_info t JOIN experiments e USING (experiment_id) WHERE e.name = ?"
        return int(db.execute(query, (experiment_name,)).fetchone()[0])


def request_of(tracer: Any, i: int) -> tuple[str, bool]:
    """One served request (a SERVER root and a chat span), failed one time in 50: (its trace id, failed)."""
    failed = i % FAILED_EVERY == 0
    with tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
        root.set_attributes({"http.route": "/ask", "otel_mlflow.question": f"question {i}"})
        with tracer.start_as_current_span("chat gpt-4", kind=SpanKind.CLIENT) as chat:
            chat.set_attributes({"gen_ai.request.model": "gpt-4", "gen_ai.usage.input_tokens": 40 + i % 7})
            chat.set_attribute("gen_ai.usage.output_tokens", 17)
            if failed:
                chat.set_status(Status(StatusCode.ERROR, "upstream timeout"))
        if failed:
            root.set_status(Status(StatusCode.ERROR, "upstream timeout"))
            root.set_attribute("http.response.status_code", 502)
        return f"{root.get_span_context().trace_id:032x}", failed


def _spool_bytes(folder: str | None) -> int:
    if folder is None:
        return 0
    return sum(p.stat().st_size for p in Path(folder).glob("*") if p.is_file())


def sustained(
    uri: str, artifacts: str, seconds: float, rate: float, window_seconds: float | None = None, writer: str = "thread"
) -> dict:
    """Make ``rate`` requests a second for ``seconds`` with default settings (``window_seconds`` and ``writer``
    aside); the figures."""
    name = f"sustained-{time.monotonic_ns()}"
    prepare_experiment(uri, name, artifacts)
    extra: dict[str, Any] = {"window_seconds": window_seconds} if window_seconds else {}
    extra["writer"] = writer
    exporter = MLflowSpanExporter(
        config=Config.from_env(env={}, tracking_uri=uri, artifact_location=artifacts, experiment_name=name, **extra)
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-api"}), shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=65_536))
    tracer = provider.get_tracer("sustained")
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((exporter.lag().runs_seconds, _spool_bytes(exporter.spool_folder)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    failed: list[str] = []
    sent = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due:
            trace_id, bad = request_of(tracer, sent)
            sent += 1
            if bad:
                failed.append(trace_id)
        time.sleep(0.005)
    traffic = time.perf_counter() - started
    stored_in_traffic = traces_in_store(uri, name)
    exit_started = time.perf_counter()
    provider.shutdown()  # the exit: writes what is left while MLflow makes progress
    exit_seconds = time.perf_counter() - exit_started
    stop.set()
    sampler.join()
    return {
        "sent": sent,
        "seconds": traffic,
        "exit_seconds": exit_seconds,
        "traces_stored_during_traffic": stored_in_traffic,
        "max_lag": max((s[0] for s in samples), default=0.0),
        "max_spool_bytes": max((s[1] for s in samples), default=0),
        **read_back(uri, name, failed),
        "window_seconds": exporter.config.window_seconds,
        "flush_interval": exporter.config.flush_interval,
        "spool_max_bytes": exporter.config.spool_max_bytes,
    }


def read_back(uri: str, experiment_name: str, failed: list[str]) -> dict:
    """Requests counted in the experiment's window runs, its MLflow traces, and how many of ``failed`` are stored."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([experiment.experiment_id], max_results=50_000)
    counted = sum(int(r.data.metrics.get("request_count", 0)) for r in runs)
    stored: set[str] = set()
    token = None
    while True:
        page = client.search_traces(locations=[experiment.experiment_id], max_results=500, page_token=token)
        stored.update(t.info.trace_id for t in page)
        token = page.token
        if not token:
            break
    otel_ids = {t.rsplit("/", 1)[-1].rsplit("-", 1)[-1] for t in stored}  # tr-<hex>, trace:/<location>/<hex>
    failed_stored = sum(1 for t in failed if t in otel_ids)
    return {"counted": counted, "traces_stored": len(stored), "failed": len(failed), "failed_stored": failed_stored}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--window-seconds", type=float, default=None)
    parser.add_argument("--writer", choices=("thread", "process"), default="thread")
    args = parser.parse_args()
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="otel-mlflow-sustained-"))
    uri = f"sqlite:///{work / 'mlflow.db'}"
    prepare_experiment(uri, "warm-up", str(work / "a"))
    ceiling = raw_trace_rate(uri, str(work / "a"))
    figures = sustained(uri, str(work / "a"), args.seconds, 3 * ceiling, args.window_seconds, args.writer)
    print({"raw_trace_rate": ceiling, **figures})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
