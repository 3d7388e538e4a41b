"""``OTEL_MLFLOW_WRITER=process``: the app only spools; one writer process per spool folder writes MLflow.

The spool is already the hand-off: the app's exporter appends each batch to its own spool file and, every half
second, hands the file over (it starts a new one and lets go of the old one's lock, which makes the old one look
like the file of a process that is gone). The writer process takes such files over as it takes over a dead
process's files (:mod:`otel_mlflow.export.spool.takeover`: merged once, recorded, exactly once after any crash)
and writes them with the same engine as ``thread`` mode. MLflow's client, the mapping and the scrubbing then no
longer share the app's GIL. Parts:

- :mod:`.files`: what the processes on one folder share (the writer's lock, its status, flush requests);
- :mod:`.handoff`: the app's side (hand-offs, starting the writer when needed and again when it dies, flush, exit);
- :mod:`.child`: the writer process (``python -m otel_mlflow.export.writer_process``, settings on stdin).
"""
