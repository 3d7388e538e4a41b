"""The durable copy: every span accepted stays on disk until MLflow has it.

- :mod:`.file`: one sqlite spool file (batches, spans, the run journal, windows and their records), versioned
- :mod:`.folder`: where spool files live, who owns each (``flock``), taking over the files of dead processes
- :mod:`.guarded`: the engine's only way to the spool; the first disk error switches to memory with one warning
- :mod:`.codec` / :mod:`.otlp_spans`: spans as OTLP protobuf bytes and back (the receiver decodes with these too)

Nothing here knows of MLflow or of what is pending in memory.
"""
