"""The export engine: from ``MLflowSpanExporter.export()`` to MLflow, through a durable spool.

Modules:

- :mod:`~otel_mlflow.export.exporter`: ``MLflowSpanExporter``, the OTel ``SpanExporter``
- :mod:`~otel_mlflow.export.codec` / :mod:`~otel_mlflow.export.otlp_spans`: spans <-> OTLP protobuf bytes
- :mod:`~otel_mlflow.export.spool` / :mod:`~otel_mlflow.export.spool_dir`: the spool file, its folder,
  file locks and taking over the files of dead processes
- :mod:`~otel_mlflow.export.ledger`: the one owner of what is pending (buffer, windows, jobs, spool refs);
  :mod:`~otel_mlflow.export.guarded` (its way to the spool), :mod:`~otel_mlflow.export.memory` (the memory
  bound), :mod:`~otel_mlflow.export.backlog` (spans on disk only), :mod:`~otel_mlflow.export.replay` (dead
  processes' files taken over, spilled spans read back), :mod:`~otel_mlflow.export.trace_buffer` (spans
  waiting for their trace's root)
- :mod:`~otel_mlflow.export.routing`: a group of spans -> a write job or a window's request
- :mod:`~otel_mlflow.export.jobqueue` / :mod:`~otel_mlflow.export.jobs`: write jobs, per-run order, retries
- :mod:`~otel_mlflow.export.engine`: writer threads, flush, exit that waits while MLflow progresses
- :mod:`~otel_mlflow.export.writer`: one run plan -> MLflow calls; :mod:`~otel_mlflow.export.mlflow_server`:
  clients, ``/health``, experiments, MLflow's errors, ``/v1/traces``
- :mod:`~otel_mlflow.export.stats` / :mod:`~otel_mlflow.export.selftelemetry` / :mod:`~otel_mlflow.export.progress`:
  counters, their OTel metrics, the exit progress line

The states a span, a trace's run, a serving window and a spool file go through: ``DESIGN.md`` at the
repository's root.
"""

LOGGER_NAME = "otel_mlflow.export.exporter"
"""The engine's modules log under the exporter's name: one logger for users to configure."""
