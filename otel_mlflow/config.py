"""Settings for otel-mlflow, read once: constructor argument, then environment variable, then default.

Usage::

    from otel_mlflow.config import Config

    config = Config.from_env()                      # environment and defaults
    config = Config.from_env(experiment_name="rag")  # an argument wins over the environment

A bad value raises :class:`ConfigError` naming the variable at construction, never a silent
default at export time.

Environment variables:

============================================  =====================  ==============================
variable                                      default                meaning
============================================  =====================  ==============================
``MLFLOW_TRACKING_URI``                       MLflow's default       where runs are written
                                              (``sqlite:///mlflow.db``)
``MLFLOW_EXPERIMENT_NAME``                    ``llmops-rag``         experiment of the runs
``MLFLOW_ARTIFACT_PATH``                      MLflow's default       artifact location of an
                                                                     experiment otel-mlflow creates
``OTEL_MLFLOW_RUN_MODE``                      ``auto``               ``trace``: a run per trace;
                                                                     ``window``: a run per service and
                                                                     configuration per window;
                                                                     ``auto``: window for server requests
``OTEL_MLFLOW_REDACT_PATTERNS``               unset                  comma-separated regular expressions
                                                                     masked everywhere before writing
``OTEL_MLFLOW_WINDOW_SECONDS``                ``60``                 length of a serving window
``OTEL_MLFLOW_WINDOW_MAX_REQUESTS``           ``10000``              requests that close a window early
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_         ``true``               write prompt/response text
MESSAGE_CONTENT``
``OTEL_MLFLOW_TRACE_TIMEOUT``                 ``30``                 seconds to wait for a root span
``OTEL_MLFLOW_FLUSH_INTERVAL``                ``1.0``                seconds between writes
``OTEL_MLFLOW_MAX_QUEUE_SIZE``                ``20000``              spans buffered at most
``OTEL_MLFLOW_MAX_QUEUE_BYTES``               ``134217728``          memory those spans may hold (est.)
``OTEL_MLFLOW_MAX_TEXT_CHARS``                ``1000000``            chars kept per text artifact
``OTEL_MLFLOW_RETRY_TIMEOUT``                 ``60``                 exit gives up once MLflow failed this
                                                                     long (spool off: a write's retries)
``OTEL_MLFLOW_LOG_SPANS``                     ``true``               write ``spans.json`` per run
``OTEL_MLFLOW_LINK_TRACES``                   ``false``              also send spans to the server's
                                                                     ``/v1/traces``, linked to the run
``OTEL_MLFLOW_SPOOL``                         ``on``                 keep every accepted span on disk
                                                                     until MLflow has it (``off``: memory)
``OTEL_MLFLOW_SPOOL_DIR``                     beside a sqlite store, where the spool lives (one folder
                                              else a per-user cache  per tracking URI and experiment)
``OTEL_MLFLOW_SPOOL_MAX_BYTES``               ``1073741824``         disk the spool may use; past it new
                                                                     spans are dropped and counted
``OTEL_MLFLOW_EXIT_TIMEOUT``                  ``600``                seconds exit keeps writing while
                                                                     MLflow makes progress (SIGTERM: 20)
``OTEL_MLFLOW_WRITERS``                       4 (server), 1 (sqlite) writer threads
============================================  =====================  ==============================

Every number must be finite and greater than 0 (``inf`` is refused: it would stop the writer).
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
ENV_EXPERIMENT_NAME = "MLFLOW_EXPERIMENT_NAME"
ENV_ARTIFACT_PATH = "MLFLOW_ARTIFACT_PATH"
ENV_RUN_MODE = "OTEL_MLFLOW_RUN_MODE"
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_TRACE_TIMEOUT = "OTEL_MLFLOW_TRACE_TIMEOUT"
ENV_FLUSH_INTERVAL = "OTEL_MLFLOW_FLUSH_INTERVAL"
ENV_MAX_QUEUE_SIZE = "OTEL_MLFLOW_MAX_QUEUE_SIZE"
ENV_MAX_TEXT_CHARS = "OTEL_MLFLOW_MAX_TEXT_CHARS"
ENV_MAX_QUEUE_BYTES = "OTEL_MLFLOW_MAX_QUEUE_BYTES"
ENV_RETRY_TIMEOUT = "OTEL_MLFLOW_RETRY_TIMEOUT"
ENV_LOG_SPANS = "OTEL_MLFLOW_LOG_SPANS"
ENV_LINK_TRACES = "OTEL_MLFLOW_LINK_TRACES"
ENV_REDACT_PATTERNS = "OTEL_MLFLOW_REDACT_PATTERNS"
ENV_WINDOW_SECONDS = "OTEL_MLFLOW_WINDOW_SECONDS"
ENV_WINDOW_MAX_REQUESTS = "OTEL_MLFLOW_WINDOW_MAX_REQUESTS"
ENV_SPOOL = "OTEL_MLFLOW_SPOOL"
ENV_SPOOL_DIR = "OTEL_MLFLOW_SPOOL_DIR"
ENV_SPOOL_MAX_BYTES = "OTEL_MLFLOW_SPOOL_MAX_BYTES"
ENV_EXIT_TIMEOUT = "OTEL_MLFLOW_EXIT_TIMEOUT"
ENV_WRITERS = "OTEL_MLFLOW_WRITERS"

DEFAULT_EXPERIMENT_NAME = "llmops-rag"
DEFAULT_SERVER_WRITERS = 4
MAX_WRITERS = 64
SIGTERM_EXIT_SECONDS = 20.0
"""Exit budget after SIGTERM: a serving process must stop within a 30 s grace period."""
RUN_MODES = ("trace", "window", "auto")

_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"}
_FALSE = {"false", "0", "no", "off", "no_content"}

T = TypeVar("T")


class ConfigError(ValueError):
    """A setting has a value otel-mlflow cannot use; the message names the variable and the fix."""


@dataclass(frozen=True)
class Config:
    """Resolved settings. Build with :meth:`from_env`; every field is documented in the module."""

    tracking_uri: str | None = None
    experiment_name: str = DEFAULT_EXPERIMENT_NAME
    artifact_location: str | None = None
    run_mode: str = "auto"
    capture_content: bool = True
    trace_timeout: float = 30.0
    flush_interval: float = 1.0
    max_queue_size: int = 20_000
    max_queue_bytes: int = 128 << 20
    max_text_chars: int = 1_000_000
    retry_timeout: float = 60.0
    log_spans: bool = True
    link_traces: bool = False
    redact_patterns: tuple[str, ...] = ()
    window_seconds: float = 60.0
    window_max_requests: int = 10_000
    spool: bool = True
    spool_dir: str | None = None
    spool_max_bytes: int = 1 << 30
    exit_timeout: float = 600.0
    writers: int | None = None
    """None: :data:`DEFAULT_SERVER_WRITERS` against an http(s) server, 1 otherwise (sqlite has one writer lock)."""

    def __post_init__(self) -> None:
        if self.run_mode not in RUN_MODES:
            raise ConfigError(
                f"{ENV_RUN_MODE}={self.run_mode!r} is not a run mode; use one of {', '.join(RUN_MODES)}"
            )
        for pattern in self.redact_patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{ENV_REDACT_PATTERNS}: {pattern!r} is not a regular expression ({exc})") from None
        if not self.experiment_name.strip():
            raise ConfigError(f"{ENV_EXPERIMENT_NAME} is empty; set it to an experiment name")
        for name, env in (
            ("trace_timeout", ENV_TRACE_TIMEOUT),
            ("flush_interval", ENV_FLUSH_INTERVAL),
            ("retry_timeout", ENV_RETRY_TIMEOUT),
            ("max_queue_size", ENV_MAX_QUEUE_SIZE),
            ("max_queue_bytes", ENV_MAX_QUEUE_BYTES),
            ("max_text_chars", ENV_MAX_TEXT_CHARS),
            ("window_seconds", ENV_WINDOW_SECONDS),
            ("window_max_requests", ENV_WINDOW_MAX_REQUESTS),
            ("spool_max_bytes", ENV_SPOOL_MAX_BYTES),
            ("exit_timeout", ENV_EXIT_TIMEOUT),
        ):
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not value > 0:
                raise ConfigError(f"{env}={value!r} must be a finite number greater than 0")
        if self.writers is not None and not (isinstance(self.writers, int) and 1 <= self.writers <= MAX_WRITERS):
            raise ConfigError(f"{ENV_WRITERS}={self.writers!r} must be a whole number from 1 to {MAX_WRITERS}")

    @property
    def writer_count(self) -> int:
        """Writer threads: the setting, else 4 against an MLflow server and 1 for a local store."""
        if self.writers is not None:
            return self.writers
        uri = (self.tracking_uri or "").lower()
        return DEFAULT_SERVER_WRITERS if uri.startswith(("http://", "https://")) else 1

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
        """Resolve every setting: ``overrides`` (keyword arguments) first, then ``env``, then defaults.

        ``env`` defaults to ``os.environ``. Overrides that are ``None`` count as not given.
        """
        source = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(
                f"unknown otel-mlflow setting(s): {', '.join(sorted(unknown))}; "
                f"known settings: {', '.join(sorted(known))}"
            )
        given = {k: v for k, v in overrides.items() if v is not None}

        def pick(name: str, env_name: str, parse: Callable[[str, str], T]) -> T | None:
            if name in given:
                return given[name]  # type: ignore[no-any-return]
            raw = source.get(env_name)
            if raw is None or raw.strip() == "":
                return None
            return parse(env_name, raw.strip())

        values: dict[str, Any] = {
            "tracking_uri": pick("tracking_uri", ENV_TRACKING_URI, _text),
            "experiment_name": pick("experiment_name", ENV_EXPERIMENT_NAME, _text),
            "artifact_location": pick("artifact_location", ENV_ARTIFACT_PATH, _text),
            "run_mode": pick("run_mode", ENV_RUN_MODE, _lower),
            "capture_content": pick("capture_content", ENV_CAPTURE_CONTENT, _bool),
            "trace_timeout": pick("trace_timeout", ENV_TRACE_TIMEOUT, _float),
            "flush_interval": pick("flush_interval", ENV_FLUSH_INTERVAL, _float),
            "max_queue_size": pick("max_queue_size", ENV_MAX_QUEUE_SIZE, _int),
            "max_queue_bytes": pick("max_queue_bytes", ENV_MAX_QUEUE_BYTES, _int),
            "max_text_chars": pick("max_text_chars", ENV_MAX_TEXT_CHARS, _int),
            "retry_timeout": pick("retry_timeout", ENV_RETRY_TIMEOUT, _float),
            "log_spans": pick("log_spans", ENV_LOG_SPANS, _bool),
            "link_traces": pick("link_traces", ENV_LINK_TRACES, _bool),
            "redact_patterns": pick("redact_patterns", ENV_REDACT_PATTERNS, _patterns),
            "window_seconds": pick("window_seconds", ENV_WINDOW_SECONDS, _float),
            "window_max_requests": pick("window_max_requests", ENV_WINDOW_MAX_REQUESTS, _int),
            "spool": pick("spool", ENV_SPOOL, _bool),
            "spool_dir": pick("spool_dir", ENV_SPOOL_DIR, _text),
            "spool_max_bytes": pick("spool_max_bytes", ENV_SPOOL_MAX_BYTES, _int),
            "exit_timeout": pick("exit_timeout", ENV_EXIT_TIMEOUT, _float),
            "writers": pick("writers", ENV_WRITERS, _int),
        }
        return cls(**{k: v for k, v in values.items() if v is not None})


def capture_content_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` alone (default true); raises ConfigError."""
    raw = (os.environ if env is None else env).get(ENV_CAPTURE_CONTENT, "").strip()
    return True if not raw else _bool(ENV_CAPTURE_CONTENT, raw)


def capture_content_or_off() -> bool:
    """:func:`capture_content_from_env` for code that must not fail (instrumentation, helper calls): a bad
    value turns capture off, and the error naming the variable is logged once per process."""
    global _capture_error_logged
    try:
        return capture_content_from_env()
    except ConfigError as exc:
        if not _capture_error_logged:
            _capture_error_logged = True
            logging.getLogger("otel_mlflow").error("%s; prompt and response text will not be captured", exc)
        return False


_capture_error_logged = False


def _patterns(_name: str, raw: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def _text(_name: str, raw: str) -> str:
    return raw


def _lower(_name: str, raw: str) -> str:
    return raw.lower()


def _bool(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def _float(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds, e.g. {name}=30") from None


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number, e.g. {name}=1000") from None
