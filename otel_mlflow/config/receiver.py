"""The receiver's settings (``otel-mlflow receive``): a flag, then its environment variable, then the default.

Usage::

    from otel_mlflow.config import ReceiverSettings

    settings = ReceiverSettings.from_env(port=args.port)   # None means "not given"

A bad value raises :class:`~otel_mlflow.config.ConfigError` naming the flag's variable and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_mlflow.config import parse
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.names import (
    ENV_RECEIVER_GRPC_PORT,
    ENV_RECEIVER_HOST,
    ENV_RECEIVER_MAX_BODY_BYTES,
    ENV_RECEIVER_MAX_CONNECTIONS,
    ENV_RECEIVER_MAX_SPANS,
    ENV_RECEIVER_PORT,
    ENV_RECEIVER_READ_TIMEOUT,
    ENV_RECEIVER_TOKEN,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4319
DEFAULT_GRPC_PORT = 4320
"""OTLP/gRPC beside OTLP/HTTP's 4319: neither clashes with a Collector's 4317/4318 on the same host."""
DEFAULT_MAX_BODY_BYTES = 16 << 20
DEFAULT_MAX_SPANS = 50_000
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000


@dataclass(frozen=True)
class ReceiverSettings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    grpc_port: int = DEFAULT_GRPC_PORT
    """0 turns OTLP/gRPC off."""
    token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_spans: int = DEFAULT_MAX_SPANS
    read_timeout: float = DEFAULT_READ_TIMEOUT
    """Seconds an HTTP connection may sit idle, then for a request's headers to arrive from its first byte, then
    for its body: none of the three is extended by a client that trickles bytes."""
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    """Open HTTP connections; a request on one past it is answered 503 with Retry-After."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"{ENV_RECEIVER_PORT}={self.port} (--port) is not a port; use 1 to 65535 (0: any free)")
        if not 0 <= self.grpc_port <= 65535:
            raise ConfigError(f"{ENV_RECEIVER_GRPC_PORT}={self.grpc_port} (--grpc-port) is not a port; use 1 to 65535 "
                              "(0: no OTLP/gRPC)")  # fmt: skip
        for value, env in ((self.max_body_bytes, ENV_RECEIVER_MAX_BODY_BYTES), (self.max_spans, ENV_RECEIVER_MAX_SPANS)):
            if value <= 0:
                raise ConfigError(f"{env}={value} must be a whole number greater than 0")
        if not 0 < self.read_timeout < float("inf"):
            raise ConfigError(f"{ENV_RECEIVER_READ_TIMEOUT}={self.read_timeout} must be a number of seconds greater "
                              "than 0, e.g. 30")  # fmt: skip
        if self.max_connections <= 0:
            raise ConfigError(f"{ENV_RECEIVER_MAX_CONNECTIONS}={self.max_connections} must be a whole number greater "
                              "than 0, e.g. 1000")  # fmt: skip

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> ReceiverSettings:
        """``given`` (flags; None means not given) first, then ``env`` (default ``os.environ``), then defaults."""
        source = os.environ if env is None else env
        values = {
            name: parse.pick(given, source, name, var, read)
            for name, var, read in (
                ("host", ENV_RECEIVER_HOST, parse.text),
                ("port", ENV_RECEIVER_PORT, parse.whole),
                ("grpc_port", ENV_RECEIVER_GRPC_PORT, parse.whole),
                ("token", ENV_RECEIVER_TOKEN, parse.text),
                ("max_body_bytes", ENV_RECEIVER_MAX_BODY_BYTES, parse.whole),
                ("max_spans", ENV_RECEIVER_MAX_SPANS, parse.whole),
                ("read_timeout", ENV_RECEIVER_READ_TIMEOUT, parse.seconds),
                ("max_connections", ENV_RECEIVER_MAX_CONNECTIONS, parse.whole),
            )
        }
        return cls(**{k: v for k, v in values.items() if v is not None})
