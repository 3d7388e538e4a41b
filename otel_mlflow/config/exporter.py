"""The exporter's settings (:class:`Config`), read once: argument, then environment variable, then default.

Usage::

    from otel_mlflow.config import Config

    config = Config.from_env()                      # environment and defaults
    config = Config.from_env(experiment_name="rag")  # an argument wins over the environment

A bad value raises :class:`~otel_mlflow.config.ConfigError` naming the variable at construction, never a
silent default at export time. Every variable is in the table of :mod:`otel_mlflow.config`.
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from otel_mlflow.config import parse
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.scrub import ScrubSettings
from otel_mlflow.config.names import (
    DEFAULT_EXPERIMENT_NAME,
    ENV_ARTIFACT_PATH,
    ENV_CAPTURE_CONTENT,
    ENV_EXIT_TIMEOUT,
    ENV_EXPERIMENT_NAME,
    ENV_FLUSH_INTERVAL,
    ENV_LINK_TRACES,
    ENV_LOG_SPANS,
    ENV_PRICES,
    ENV_MAX_QUEUE_BYTES,
    ENV_MAX_QUEUE_SIZE,
    ENV_MAX_TEXT_CHARS,
    ENV_REDACT_ALLOW_KEYS,
    ENV_REDACT_KEYS,
    ENV_REDACT_PATTERNS,
    ENV_RETRY_TIMEOUT,
    ENV_RUN_MODE,
    ENV_SPOOL,
    ENV_SPOOL_DIR,
    ENV_SPOOL_MAX_BYTES,
    ENV_TRACE_TIMEOUT,
    ENV_TRACKING_URI,
    ENV_WINDOW_MAX_REQUESTS,
    ENV_WINDOW_SECONDS,
    ENV_WRITERS,
    ENV_PARAM_FIELDS,
    ENV_REPLICA,
)

DEFAULT_ARTIFACT_FOLDER = "mlartifacts"
DEFAULT_SERVER_WRITERS = 4
MAX_WRITERS = 64
RUN_MODES = ("trace", "window", "auto")




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
    prices: str | None = None
    """A JSON file of prices (USD per million tokens by model) over MLflow's bundled table; ``off``: no cost."""
    link_traces: bool = True
    redact_patterns: tuple[str, ...] = ()
    redact_keys: tuple[str, ...] = ()
    redact_allow_keys: tuple[str, ...] = ()
    window_seconds: float = 60.0
    window_max_requests: int = 10_000
    spool: bool = True
    spool_dir: str | None = None
    spool_max_bytes: int = 1 << 30
    exit_timeout: float = 600.0
    writers: int | None = None
    """None: :data:`DEFAULT_SERVER_WRITERS` against an http(s) server, 1 otherwise (sqlite has one writer lock)."""
    replica: str | None = None
    """This process's name among replicas writing one experiment: its window runs' tag and name suffix."""
    param_fields: tuple[str, ...] = ()
    """The request fields the app records as run params: columns of the runs view of an experiment we create."""

    def __post_init__(self) -> None:
        if self.run_mode not in RUN_MODES:
            raise ConfigError(
                f"{ENV_RUN_MODE}={self.run_mode!r} is not a run mode; use one of {', '.join(RUN_MODES)}"
            )
        _ = self.scrub  # - checks the patterns and words now, naming the variable
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
    def scrub(self) -> ScrubSettings:
        """The user's scrubbing rules (``OTEL_MLFLOW_REDACT_*``), checked."""
        return ScrubSettings(tuple(self.redact_patterns), tuple(self.redact_keys), tuple(self.redact_allow_keys))

    @property
    def artifact_root(self) -> str | None:
        """Where a new experiment's artifacts go, one rule for every entry point: ``MLFLOW_ARTIFACT_PATH``; else,
        for a server, where the server decides (None); else ``mlartifacts/`` beside a sqlite file (the folder
        ``mlflow server`` uses by default), or in the working folder for MLflow's default ``./mlflow.db`` and
        other databases. Existing experiments keep theirs."""
        if self.artifact_location:
            return self.artifact_location
        uri = self.tracking_uri or ""
        if is_server_uri(uri) or uri.startswith("databricks"):
            return None
        folder = Path(uri[len("sqlite:///") :]).parent if uri.startswith("sqlite:///") else Path(".")
        return str((folder / DEFAULT_ARTIFACT_FOLDER).resolve())

    @property
    def replica_id(self) -> str:
        """``OTEL_MLFLOW_REPLICA``, else ``<host>/<pid>``: which process wrote a window run (each process keeps its
        own windows; the Collector routes a service's spans to one receiver to keep them whole, see README)."""
        return self.replica or f"{socket.gethostname()}/{os.getpid()}"

    @property
    def writer_count(self) -> int:
        """Writer threads: the setting, else 4 against an MLflow server and 1 for a local store."""
        if self.writers is not None:
            return self.writers
        return DEFAULT_SERVER_WRITERS if is_server_uri(self.tracking_uri) else 1

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

        def pick(name: str, var: str, read: Callable[[str, str], Any]) -> Any:
            return parse.pick(overrides, source, name, var, read)

        values: dict[str, Any] = {
            "tracking_uri": pick("tracking_uri", ENV_TRACKING_URI, parse.text),
            "experiment_name": pick("experiment_name", ENV_EXPERIMENT_NAME, parse.text),
            "artifact_location": pick("artifact_location", ENV_ARTIFACT_PATH, parse.text),
            "run_mode": pick("run_mode", ENV_RUN_MODE, parse.lower),
            "capture_content": pick("capture_content", ENV_CAPTURE_CONTENT, parse.boolean),
            "trace_timeout": pick("trace_timeout", ENV_TRACE_TIMEOUT, parse.seconds),
            "flush_interval": pick("flush_interval", ENV_FLUSH_INTERVAL, parse.seconds),
            "max_queue_size": pick("max_queue_size", ENV_MAX_QUEUE_SIZE, parse.whole),
            "max_queue_bytes": pick("max_queue_bytes", ENV_MAX_QUEUE_BYTES, parse.whole),
            "max_text_chars": pick("max_text_chars", ENV_MAX_TEXT_CHARS, parse.whole),
            "retry_timeout": pick("retry_timeout", ENV_RETRY_TIMEOUT, parse.seconds),
            "log_spans": pick("log_spans", ENV_LOG_SPANS, parse.boolean),
            "prices": pick("prices", ENV_PRICES, parse.text),
            "link_traces": pick("link_traces", ENV_LINK_TRACES, parse.boolean),
            "redact_patterns": pick("redact_patterns", ENV_REDACT_PATTERNS, parse.patterns),
            "redact_keys": pick("redact_keys", ENV_REDACT_KEYS, parse.names),
            "redact_allow_keys": pick("redact_allow_keys", ENV_REDACT_ALLOW_KEYS, parse.names),
            "window_seconds": pick("window_seconds", ENV_WINDOW_SECONDS, parse.seconds),
            "window_max_requests": pick("window_max_requests", ENV_WINDOW_MAX_REQUESTS, parse.whole),
            "spool": pick("spool", ENV_SPOOL, parse.boolean),
            "spool_dir": pick("spool_dir", ENV_SPOOL_DIR, parse.text),
            "spool_max_bytes": pick("spool_max_bytes", ENV_SPOOL_MAX_BYTES, parse.whole),
            "exit_timeout": pick("exit_timeout", ENV_EXIT_TIMEOUT, parse.seconds),
            "writers": pick("writers", ENV_WRITERS, parse.whole),
            "replica": pick("replica", ENV_REPLICA, parse.text),
            "param_fields": pick("param_fields", ENV_PARAM_FIELDS, parse.names),
        }
        return cls(**{k: v for k, v in values.items() if v is not None})


def is_server_uri(tracking_uri: str | None) -> bool:
    """True for an MLflow server's ``http(s)://`` tracking URI (REST calls, ``/health``, ``/v1/traces``)."""
    return bool(tracking_uri) and str(tracking_uri).lower().startswith(("http://", "https://"))
