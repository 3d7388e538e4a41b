"""An app whose disk fills while it takes over a dead process's spool file: run as a subprocess.

    python tests/disk_limit_app.py URI SPOOL_DIR FILE_SIZE_LIMIT TRACES

The MLflow store is opened first; then ``ulimit -f`` (RLIMIT_FSIZE) is set to FILE_SIZE_LIMIT bytes, below what
merging the dead file needs, and the exporter starts on SPOOL_DIR, exports TRACES traces and exits.
"""

from __future__ import annotations

import logging
import resource
import signal
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_mlflow import MLflowSpanExporter


def main() -> None:
    uri, spool_dir, limit, traces = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments()  # the store's file exists before the limit
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    exporter = MLflowSpanExporter(
        tracking_uri=uri, spool_dir=spool_dir, run_mode="trace", link_traces=False, flush_interval=0.05
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("disk-limit")
    for i in range(traces):
        with tracer.start_as_current_span(f"job {i}"):
            pass
    assert exporter.force_flush(60_000), "not flushed"
    print("spool_errors", exporter.stats.spool_errors, "written", exporter.stats.spans_written, flush=True)
    provider.shutdown()


if __name__ == "__main__":
    main()
