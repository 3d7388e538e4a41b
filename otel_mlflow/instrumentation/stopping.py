"""The app is stopping: flush every span now, with the short exit budget of a SIGTERM.

Used where a server tells the app it stops (the ASGI lifespan's shutdown), which is the last moment a
forked worker's spans can be saved: gunicorn ends its UvicornWorkers with SIGTERM and its default action,
which skips ``atexit``. Usage::

    from otel_mlflow.instrumentation.stopping import flush_before_stop
    flush_before_stop()
"""

from __future__ import annotations

from otel_mlflow.instrumentation.llm_span import safely
from otel_mlflow.sigterm import shut_down_provider_to_stop


def flush_before_stop() -> None:
    """Shut the global TracerProvider down (flushing every processor and exporter, closing serving windows);
    what is not written within the SIGTERM budget stays spooled for the next start. Never raises."""
    safely("flush spans at shutdown", shut_down_provider_to_stop)
