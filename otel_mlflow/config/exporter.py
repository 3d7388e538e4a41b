"""The exporter's settings (:class:`Config`), read once: argument, then environment variable, then default.

Usage::

    from otel_mlflow.config import Config

    config = Config.from_env()                      # environment and defaults
    config = Config.from_env(experiment_name="rag")  # an argument wins over the environment

Every field is one row of :mod:`otel_mlflow.config.settings` (its variable, parser, default and check). A bad
value raises :class:`~otel_mlflow.config.ConfigError` naming the variable at construction, never a silent
default at export time.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from otel_mlflow.config import settings as S
from otel_mlflow.config.scrub import ScrubSettings

DEFAULT_ARTIFACT_FOLDER = "mlartifacts"
DEFAULT_SERVER_WRITERS = 4


@dataclass(frozen=True)
class Config:
    """Resolved settings. Build with :meth:`from_env`; each field's row: :mod:`otel_mlflow.config.settings`."""

    tracking_uri: str | None = None
    experiment_name: str = S.ENV_EXPERIMENT_NAME.default
    artifact_location: str | None = None
    tracking_token: str | None = field(default=None, repr=False)
    tracking_username: str | None = None
    tracking_password: str | None = field(default=None, repr=False)
    run_mode: str = S.ENV_RUN_MODE.default
    window_seconds: float = S.ENV_WINDOW_SECONDS.default
    window_max_requests: int = S.ENV_WINDOW_MAX_REQUESTS.default
    steps: str = S.ENV_STEPS.default
    capture_content: bool = S.ENV_CAPTURE_CONTENT.default
    trace_timeout: float = S.ENV_TRACE_TIMEOUT.default
    max_text_chars: int = S.ENV_MAX_TEXT_CHARS.default
    message_refs: tuple[str, ...] = S.ENV_MESSAGE_REFS.default
    slo: tuple[str, ...] = S.ENV_SLO.default
    alert_webhook: str | None = None
    eval_dataset: str | None = None
    """The MLflow evaluation dataset that collects production cases (:mod:`otel_mlflow.mapping.eval_cases`)."""
    eval_rule: tuple[str, ...] = S.ENV_EVAL_RULE.default
    """Where a window's breach is posted (:mod:`otel_mlflow.export.mlflow.alerts`)."""
    """Objectives checked when a window closes (:mod:`otel_mlflow.mapping.slo`), e.g. ``latency_ms.p95<800``."""
    """Path or URL prefixes of message files the writer may read (:mod:`otel_mlflow.export.message_refs`)."""
    log_spans: bool = S.ENV_LOG_SPANS.default
    link_traces: bool = S.ENV_LINK_TRACES.default
    traces: str = S.ENV_TRACES.default
    """Which traces are stored (:mod:`otel_mlflow.mapping.trace_policy`); ``off`` when ``link_traces`` is false."""
    trace_backlog_seconds: float = S.ENV_TRACE_BACKLOG_SECONDS.default
    prices: str | None = None
    """A JSON file of prices (USD per million tokens by model) over MLflow's bundled table; ``off``: no cost."""
    replica: str | None = None
    """This process's name among replicas writing one experiment: its window runs' tag and name suffix."""
    param_fields: tuple[str, ...] = S.ENV_PARAM_FIELDS.default
    """The request fields the app records as run params: columns of the runs view of an experiment we create."""
    redact_patterns: tuple[str, ...] = S.ENV_REDACT_PATTERNS.default
    redact_keys: tuple[str, ...] = S.ENV_REDACT_KEYS.default
    redact_allow_keys: tuple[str, ...] = S.ENV_REDACT_ALLOW_KEYS.default
    flush_interval: float = S.ENV_FLUSH_INTERVAL.default
    max_queue_size: int = S.ENV_MAX_QUEUE_SIZE.default
    max_queue_bytes: int = S.ENV_MAX_QUEUE_BYTES.default
    spool: bool = S.ENV_SPOOL.default
    spool_dir: str | None = None
    spool_max_bytes: int = S.ENV_SPOOL_MAX_BYTES.default
    exit_timeout: float = S.ENV_EXIT_TIMEOUT.default
    retry_timeout: float = S.ENV_RETRY_TIMEOUT.default
    writers: int | None = None
    """None: :data:`DEFAULT_SERVER_WRITERS` against an http(s) server, 1 otherwise (sqlite has one writer lock)."""
    writer: str = S.ENV_WRITER.default
    """``thread`` or ``process`` (:mod:`otel_mlflow.export.writer_process`)."""

    def __post_init__(self) -> None:
        for row in ROWS:
            row.checked(getattr(self, row.field))
        _ = self.scrub  # checks the patterns and words now, naming the variable

    @property
    def scrub(self) -> ScrubSettings:
        """The user's scrubbing rules (``OTEL_MLFLOW_REDACT_*``), checked."""
        return ScrubSettings(tuple(self.redact_patterns), tuple(self.redact_keys), tuple(self.redact_allow_keys))

    @property
    def trace_policy(self) -> str:
        """``OTEL_MLFLOW_TRACES``, or ``off`` with ``OTEL_MLFLOW_LINK_TRACES=false``."""
        return self.traces if self.link_traces else "off"

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
        values = {row.field: row.read(overrides, source) for row in ROWS}
        return cls(**{k: v for k, v in values.items() if v is not None})


ROWS = tuple(row for row in S.rows_of(S.EXPORTER))
"""The rows :class:`Config` reads: one per field."""


def is_server_uri(tracking_uri: str | None) -> bool:
    """True for an MLflow server's ``http(s)://`` tracking URI (REST calls, ``/health``, ``/v1/traces``)."""
    return bool(tracking_uri) and str(tracking_uri).lower().startswith(("http://", "https://"))
