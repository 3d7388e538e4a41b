"""The export engine: from ``MLflowSpanExporter.export()`` to MLflow, through a durable spool.

Modules:

- :mod:`~otel_mlflow.export.codec`: spans <-> OTLP protobuf bytes
- :mod:`~otel_mlflow.export.spool` / :mod:`~otel_mlflow.export.spool_dir`: the spool file, its folder,
  file locks and taking over the files of dead processes
- :mod:`~otel_mlflow.export.ledger`: the one owner of what is pending (buffer, windows, jobs, spool refs);
  :mod:`~otel_mlflow.export.guarded` (its way to the spool), :mod:`~otel_mlflow.export.backlog` (spans on
  disk only), :mod:`~otel_mlflow.export.replay` (dead processes' files taken over, spilled spans read back), :mod:`~otel_mlflow.export.memory` (the memory bound)
- :mod:`~otel_mlflow.export.routing`: a group of spans -> a write job or a window's request
- :mod:`~otel_mlflow.export.engine`: writer threads, flush, exit that waits while MLflow progresses

States (the design notes for the engine; ``../shared/DESIGN.md`` gives the promises):

A span::

    export() -> spooled (one sqlite transaction with its batch; SUCCESS returned only now)
             -> held in memory (buffer)          or  spilled (on disk only; read back when memory frees)
             -> grouped with its trace (root seen + 5 s grace, or trace timeout, or flush/exit)
             -> a trace job (its own run, or the run it names)  or  a request record in a serving window
             -> retired from the spool: when its job is written, or when its record is journaled

A trace's run (the ``runs`` journal, one row per trace)::

    (none) -> creating (just before create_run) -> created + run id (just after) -> done (retired with it)
    replay: created -> resume into that run; creating -> look up tag otel_mlflow.write_key, else create;
            done -> later spans of the trace join that run

A serving window (the ``windows`` and ``records`` tables)::

    open (records appended, journaled; steps synced by jobs, ``synced`` advanced after each)
      -> closed (window time or size, exit, or a replay of a dead process) -> closing write (aggregates,
         predictions.json, end run) -> dropped from the spool

Everything MLflow may receive twice after a crash is idempotent there (identical metrics are stored once,
params re-sent unchanged, artifacts overwritten, ending a run again); ``create_run`` is the one call that is
not, hence the journal.
"""
