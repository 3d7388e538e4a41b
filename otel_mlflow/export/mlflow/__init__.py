"""Every call to MLflow: the only room of the engine that imports ``mlflow`` (always on first use, on a writer
thread, never at import time).

- :mod:`.writer`: one run plan -> MLflow calls, resumable (``WriteState``); :mod:`.attempt`: one try of a job,
  MLflow's answer as an ``Outcome``, backoff
- :mod:`.batches`: the ``log_batch`` calls of one write, several in flight against a server
- :mod:`.traces`: spans stored as MLflow traces linked to their run, feedback as assessments
- :mod:`.server`: clients, ``/health``, get-or-create experiment, credentials, MLflow's error classes,
  the process-wide MLflow settings we set
- :mod:`.prices`: the price source (the user's file over MLflow's bundled table)
"""
