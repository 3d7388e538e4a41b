"""An app for the writer-process tests, run as a subprocess with ``OTEL_MLFLOW_WRITER=process``.

    python tests/writer_app.py URI MODE REQUESTS SECONDS [KILL]

Makes REQUESTS requests (a root and a chat span each, spooled at once by a SimpleSpanProcessor) spread over
SECONDS, printing ``request i`` after each; then exits normally (``KILL`` absent), or SIGKILLs itself (``now``).
It prints the names of this process's threads that write MLflow (there must be none) on stderr.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_mlflow import MLflowSpanExporter
from tests.crash_app import request


def main() -> None:
    uri, mode, requests, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    kill = sys.argv[5] if len(sys.argv) > 5 else "none"
    exporter = MLflowSpanExporter(tracking_uri=uri, run_mode=mode, window_seconds=3600, traces="all")
    assert exporter.config.writer == "process", exporter.config.writer
    provider = TracerProvider(resource=Resource.create({"service.name": "writer-app"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("writer-app")
    start = time.monotonic()
    for i in range(requests):
        request(tracer, mode, i)
        print("request", i, flush=True)
        time.sleep(max(0.0, start + seconds * (i + 1) / requests - time.monotonic()))
    writing = [t.name for t in threading.enumerate() if t.name.startswith(("otel-mlflow-runs", "otel-mlflow-traces"))]
    print("writer threads:", writing, file=sys.stderr, flush=True)
    if kill == "now":
        os.kill(os.getpid(), signal.SIGKILL)
    exporter.shutdown()


if __name__ == "__main__":
    main()
