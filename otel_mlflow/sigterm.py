"""Flush spans when the process is told to stop with SIGTERM.

uvicorn (and other servers) shut down gracefully on SIGTERM and then re-raise the signal with its
default action, which ends the process without running ``atexit`` handlers: the spans still queued
in the SDK would be lost. :func:`install_sigterm_flush` installs a handler (only where SIGTERM still has
its default action, and only on the main thread) that shuts the global TracerProvider down, which
flushes every span processor and exporter within their timeouts, then re-raises SIGTERM as before.

The otel-mlflow distro installs it under ``opentelemetry-instrument``; in code::

    from otel_mlflow.sigterm import install_sigterm_flush
    install_sigterm_flush()
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from opentelemetry import trace

_logger = logging.getLogger(__name__)


_signalled = False


def stopping_on_signal() -> bool:
    """True once SIGTERM started the shutdown: exporters then keep their exit short (a 30 s grace period)."""
    return _signalled


def mark_stopping_on_signal() -> None:
    global _signalled
    _signalled = True


def install_sigterm_flush() -> bool:
    """Install the handler; False (and nothing changed) when the app already handles SIGTERM."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False
    signal.signal(signal.SIGTERM, _flush_then_exit)
    return True


def shut_down_provider_to_stop() -> None:
    """The process stops: keep the short exit budget of a SIGTERM and shut the global TracerProvider down
    (flushing every processor and exporter, closing serving windows). Raises what the shutdown raises."""
    mark_stopping_on_signal()
    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if callable(shutdown):
        shutdown()


def _flush_then_exit(signum: int, frame: FrameType | None) -> None:
    signal.signal(signum, signal.SIG_DFL)
    try:
        shut_down_provider_to_stop()
    except Exception:
        _logger.exception("otel-mlflow could not flush spans on SIGTERM")
    os.kill(os.getpid(), signum)
