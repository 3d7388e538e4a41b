"""One writer of the chaos test (tests/test_chaos.py), run as a subprocess:

    python tests/chaos_app.py URI SPOOL_DIR SEED TRACES MEMORY_BOUND KILL

Makes TRACES two-span traces; a trace's child and root reach the exporter in separate export() calls, the root
often much later (traces split across batches), with a memory bound small enough to spill. Prints ``ack child
<trace>`` / ``ack root <trace>`` once export() accepted that part. KILL: ``none`` (a normal exit, which drains),
``after:<seconds>`` (SIGKILL at that moment), ``create_run:<n>`` / ``log_batch:<n>`` (SIGKILL from inside the
writer, right after the n-th real MLflow call of that name returned, before the spool heard of it).
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import set_span_in_context

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.export.spool.codec import encode_batch  # noqa: F401 - the spool's codec loads before any kill


def kill_inside(method: str, nth: int) -> None:
    from mlflow import MlflowClient

    original = getattr(MlflowClient, method)
    calls = [0]

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == nth:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(MlflowClient, method, wrapper)


def main() -> None:
    uri, spool_dir, seed, traces, bound, kill = sys.argv[1:7]
    rng = random.Random(int(seed))
    if kill.startswith("after:"):
        threading.Timer(float(kill.split(":")[1]), lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    elif kill != "none":
        method, nth = kill.split(":")
        kill_inside(method, int(nth))
    exporter = MLflowSpanExporter(
        tracking_uri=uri, spool_dir=spool_dir, run_mode="trace", link_traces=False, log_spans=False,
        max_queue_size=int(bound), flush_interval=0.05,
    )  # fmt: skip
    tracer = TracerProvider().get_tracer("chaos")
    deferred: list[Any] = []

    def export(span: Any, part: str) -> None:
        if exporter.export([span]) is SpanExportResult.SUCCESS:
            print(f"ack {part} {span.context.trace_id:032x}", flush=True)

    for i in range(int(traces)):
        root = tracer.start_span(f"job {seed}-{i}")
        child = tracer.start_span("step", context=set_span_in_context(root), attributes={"n": i})
        child.end()
        root.end()
        export(child, "child")
        if rng.random() < 0.5:
            export(root, "root")
        else:
            deferred.append(root)
        if deferred and rng.random() < 0.3:
            export(deferred.pop(rng.randrange(len(deferred))), "root")
    for root in deferred:
        export(root, "root")
    print("done", flush=True)
    exporter.shutdown()


if __name__ == "__main__":
    main()
