"""The export engine: from ``MLflowSpanExporter.export()`` to MLflow, through a durable spool.

Three rooms, and the three modules that join them:

- :mod:`~otel_mlflow.export.exporter`: ``MLflowSpanExporter``, the OTel ``SpanExporter``
- :mod:`~otel_mlflow.export.engine`: writer threads, flush, an exit that waits while MLflow makes progress
- :mod:`~otel_mlflow.export.stats`: counters, and the same counts as OTel metrics
- :mod:`~otel_mlflow.export.pending`: everything accepted and not yet in MLflow, owned by one ledger that keeps
  its lock (trace buffer and trace marks, serving windows, write jobs, spilled backlog, memory bound, routing)
- :mod:`~otel_mlflow.export.spool`: the durable copy (the spool file, its folder and take-over, the guard that
  is the only way to it, the OTLP codec)
- :mod:`~otel_mlflow.export.mlflow`: every call to MLflow (the writer, attempts and backoff, batches in flight,
  traces and feedback, clients and experiments, prices)

Imports go one way: ``exporter``/``engine`` -> ``pending`` -> ``spool``; ``engine`` -> ``mlflow``; ``mlflow`` may read a
job's types from ``pending.jobs``; ``pending`` never imports ``mlflow``; only ``mlflow`` imports the ``mlflow`` package.
The states a span, a trace, a window, a run and a spool file go through: ``DESIGN.md`` at the repository's root.
"""

LOGGER_NAME = "otel_mlflow.export.exporter"
"""The engine's modules log under the exporter's name: one logger for users to configure."""
