"""The export engine: from ``MLflowSpanExporter.export()`` to MLflow, through a durable spool.

- :mod:`~otel_mlflow.export.codec`: spans <-> OTLP protobuf bytes
- :mod:`~otel_mlflow.export.spool` / :mod:`~otel_mlflow.export.spool_dir`: the spool file, its folder,
  file locks and taking over the files of dead processes
- :mod:`~otel_mlflow.export.ledger`: the one owner of what is pending (buffer, windows, jobs, spool refs)
- :mod:`~otel_mlflow.export.routing`: a group of spans -> a write job or a window's request
- :mod:`~otel_mlflow.export.restore`: windows of a dead process, read back to be closed
- :mod:`~otel_mlflow.export.engine`: writer threads, flush, exit that waits while MLflow progresses
"""
