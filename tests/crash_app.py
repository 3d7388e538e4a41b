"""A small app for crash tests, run as a subprocess: it makes requests, then may SIGKILL itself.

    python tests/crash_app.py URI MODE REQUESTS FLUSHED_FIRST KILL [KILL_AT]

MODE is ``trace`` or ``window``. The first FLUSHED_FIRST requests are flushed to MLflow; the rest are only
exported (spooled). KILL: ``none`` (normal exit, which writes what is left), ``now`` (SIGKILL right after
the last export), ``after-create`` / ``after-log-batch`` (SIGKILL inside the writer, right after the
KILL_AT-th real MLflow ``create_run`` / ``log_batch`` returned, before the spool hears of it),
``before-traces`` (the trace lane: SIGKILL as MLflow is about to store the KILL_AT-th group of traces, their runs
written) / ``after-link`` (right after traces were stored and linked, before the spool hears of it). MLflow traces
are stored (every one: ``OTEL_MLFLOW_TRACES=all``) with ``before-traces`` and ``after-link`` or when the
environment sets ``CRASH_APP_TRACES=1``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from otel_mlflow import MLflowSpanExporter


def kill_after(method_name: str, nth: int, owner: Any = None, before: bool = False) -> None:
    """Wrap the real MlflowClient (or ``owner``) method: the nth call completes in MLflow (or, ``before``, is about
    to start), then the process dies."""
    from mlflow import MlflowClient

    owner = owner or MlflowClient
    original = getattr(owner, method_name)
    calls = [0]

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, *args, **kwargs)
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, method_name, wrapper)


def request(tracer: Any, mode: str, i: int) -> None:
    kind = SpanKind.SERVER if mode == "window" else SpanKind.INTERNAL
    root = tracer.start_span(
        "POST /ask" if mode == "window" else f"job {i}",
        kind=kind,
        attributes={"http.route": "/ask", "http.request.method": "POST"},
    )
    chat = tracer.start_span(
        "chat demo",
        context=set_span_in_context(root),
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "demo",
            "gen_ai.usage.input_tokens": 10 + i,
            "gen_ai.usage.output_tokens": 20,
        },
    )
    chat.end()
    root.end()


def main() -> None:
    uri, mode, requests, flushed_first, kill = sys.argv[1:6]
    kill_at = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    if kill == "after-create":
        kill_after("create_run", kill_at)
    elif kill == "after-log-batch":
        kill_after("log_batch", kill_at)
    elif kill == "before-traces":
        from mlflow.tracing.client import TracingClient

        kill_after("log_spans", kill_at, owner=TracingClient, before=True)
    elif kill == "after-link":
        kill_after("link_traces_to_run", kill_at)
    traces = kill in ("before-traces", "after-link") or os.environ.get("CRASH_APP_TRACES") == "1"
    exporter = MLflowSpanExporter(
        tracking_uri=uri, run_mode=mode, flush_interval=0.05, window_seconds=3600, traces="all" if traces else "off"
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "crash-app"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # each span.end() exports (spools) at once
    tracer = provider.get_tracer("crash-app")
    for i in range(int(requests)):
        request(tracer, mode, i)
        print("request", i, flush=True)  # the test counts these: a SIGKILL may come at any request
        if i + 1 == int(flushed_first):
            assert exporter.force_flush(60_000), "the first requests were not written"
    if kill == "now":
        os.kill(os.getpid(), signal.SIGKILL)
    if kill in ("after-create", "after-log-batch", "before-traces", "after-link"):
        exporter.force_flush(60_000)  # the kill comes from inside the writer
        print("the kill point was never reached", file=sys.stderr)
        sys.exit(3)
    exporter.shutdown()  # a normal exit: writes what is left, including what a dead process left
    print(exporter.stats, file=sys.stderr)


if __name__ == "__main__":
    main()
