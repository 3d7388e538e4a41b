"""An app whose traces reach the exporter in two parts: every child first, each in its own export() call, then
every root. Run as a subprocess:

    python tests/split_app.py URI SPOOL_DIR TRACES MEMORY_BOUND END

With a memory bound below the spans made, the roots wait on disk (spilled) while the children wait in memory.
END: ``exit`` (a normal exit: the exporter drains) or ``kill`` (SIGKILL right after the last export; nothing is
written yet: a trace is written 5 s after its root, and a root-less one after 30 s).
"""

from __future__ import annotations

import os
import signal
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import set_span_in_context

from otel_mlflow import MLflowSpanExporter


def main() -> None:
    uri, spool_dir, traces, bound, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    exporter = MLflowSpanExporter(
        tracking_uri=uri, spool_dir=spool_dir, run_mode="trace", link_traces=False, log_spans=False,
        max_queue_size=bound,
    )  # fmt: skip
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("split")
    roots = [tracer.start_span(f"job {i}") for i in range(traces)]
    for root in roots:
        tracer.start_span("step", context=set_span_in_context(root)).end()  # exported alone
    for root in roots:
        root.end()  # exported alone, after every child
    print("stats", exporter.stats.spans_received, exporter.stats.spans_spilled, flush=True)
    if end == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    provider.shutdown()


if __name__ == "__main__":
    main()
