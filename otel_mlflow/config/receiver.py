"""The receiver's settings (``otel-mlflow receive``): a flag, then its environment variable, then the default.

Usage::

    from otel_mlflow.config import ReceiverSettings

    settings = ReceiverSettings.from_env(port=args.port)   # None means "not given"

Each field is one row of :mod:`otel_mlflow.config.settings`; a bad value raises
:class:`~otel_mlflow.config.ConfigError` naming the flag's variable and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from otel_mlflow.config import settings as S

DEFAULT_HOST: str = S.ENV_RECEIVER_HOST.default
DEFAULT_PORT: int = S.ENV_RECEIVER_PORT.default
DEFAULT_GRPC_PORT: int = S.ENV_RECEIVER_GRPC_PORT.default
"""OTLP/gRPC beside OTLP/HTTP's 4319: neither clashes with a Collector's 4317/4318 on the same host."""


@dataclass(frozen=True)
class ReceiverSettings:
    host: str = S.ENV_RECEIVER_HOST.default
    port: int = S.ENV_RECEIVER_PORT.default
    grpc_port: int = S.ENV_RECEIVER_GRPC_PORT.default
    """0 turns OTLP/gRPC off."""
    token: str | None = None
    max_body_bytes: int = S.ENV_RECEIVER_MAX_BODY_BYTES.default
    max_spans: int = S.ENV_RECEIVER_MAX_SPANS.default
    read_timeout: float = S.ENV_RECEIVER_READ_TIMEOUT.default
    """Seconds an HTTP connection may sit idle, then for a request's headers to arrive from its first byte, then
    for its body: none of the three is extended by a client that trickles bytes."""
    max_connections: int = S.ENV_RECEIVER_MAX_CONNECTIONS.default
    """Open HTTP connections; one past it is answered 503 with Retry-After at once and closed."""
    max_connections_per_client: int = S.ENV_RECEIVER_MAX_CONNECTIONS_PER_CLIENT.default
    """The same, for the connections of one address."""

    def __post_init__(self) -> None:
        for row in ROWS:
            row.checked(getattr(self, row.field))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> ReceiverSettings:
        """``given`` (flags; None means not given) first, then ``env`` (default ``os.environ``), then defaults."""
        source = os.environ if env is None else env
        values = {row.field: row.read(given, source) for row in ROWS}
        return cls(**{k: v for k, v in values.items() if v is not None})


ROWS = S.rows_of(S.RECEIVER)
"""The rows :class:`ReceiverSettings` reads: one per field."""
