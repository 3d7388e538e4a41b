"""Which requests get their MLflow trace stored (``OTEL_MLFLOW_TRACES``). Pure: the load is measured elsewhere.

MLflow stores a trace in milliseconds to tens of milliseconds; past that capacity, storing every trace would make
the runs (steps, aggregates, predictions tables) wait and the spool grow without bound. A request's numbers are
always written; its trace is kept by policy, and what is not stored is counted, never silent:

- ``all``: every trace (the trace store may lag behind);
- ``off``: none (``OTEL_MLFLOW_LINK_TRACES=false`` means this too);
- a ratio such as ``0.1``: that share of traces, chosen by trace id (a replay, a second replica or a Collector's
  tail sampling agree);
- ``adaptive`` (the default): every trace while the traces waiting to be stored would take at most
  ``OTEL_MLFLOW_TRACE_BACKLOG_SECONDS`` at the measured pace; past it, by priority: failed requests, requests that
  came with feedback, slow ones (above their configuration's recent p95), the first requests of a configuration
  not seen before, then a sample by trace id sized to what the store keeps up with.

Usage::

    policy = TracePolicy.parse("adaptive")
    why = decide(policy, record, Load(backlog_seconds=3.0, ratio=0.2, p95_ms=820.0, new_configuration=False))
    why.stored     # True: store the trace; why.value is what the predictions table and the run's counts say
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from otel_mlflow.config import ENV_TRACES, parse
from otel_mlflow.mapping.request_record import RequestRecord


class Why(str, enum.Enum):
    """Why a request's trace is stored, or not."""

    ALL = "stored"
    FAILED = "stored: failed"
    FEEDBACK = "stored: feedback"
    SLOW = "stored: slow"
    NEW = "stored: new configuration"
    SAMPLED = "stored: sampled"
    OUT = "sampled out"
    OFF = "off"

    @property
    def stored(self) -> bool:
        return self.value.startswith("stored")


@dataclass(frozen=True)
class TracePolicy:
    mode: str = "adaptive"
    """``all``, ``adaptive``, ``off`` or ``ratio``."""
    ratio: float = 1.0

    @classmethod
    def parse(cls, raw: str) -> TracePolicy:
        """``all``, ``adaptive``, ``off``, or a ratio in (0, 1]; raises ConfigError naming the choices."""
        text = parse.traces(ENV_TRACES, raw)
        return cls(text) if text in parse.TRACE_MODES else cls("ratio", float(text))

    def __str__(self) -> str:
        return f"{self.ratio:g}" if self.mode == "ratio" else self.mode


@dataclass(frozen=True)
class Load:
    """What the adaptive policy looks at, as measured when the request is filed."""

    backlog_seconds: float = 0.0
    """The traces waiting to be stored, in seconds at the measured pace of the trace store."""
    ratio: float = 1.0
    """The share of the other traces to keep: the store's measured pace over the arrival rate, less the further the
    backlog is past its bound."""
    p95_ms: float | None = None
    """The request's configuration's recent p95 latency."""
    new_configuration: bool = False
    """One of the first requests of a configuration this process had not seen."""
    bound_seconds: float = 10.0


def sampled(trace_id: str, ratio: float) -> bool:
    """Deterministic by trace id: the low 64 bits against the ratio (as OpenTelemetry's TraceIdRatioBased)."""
    if ratio >= 1:
        return True
    try:
        low = int(trace_id[-16:], 16)
    except ValueError:
        return False
    return low < ratio * (1 << 64)


def decide(policy: TracePolicy, record: RequestRecord, load: Load) -> Why:
    """Whether ``record``'s trace is stored, and why."""
    if policy.mode == "off":
        return Why.OFF
    if policy.mode == "all":
        return Why.ALL
    if policy.mode == "ratio":
        return Why.SAMPLED if sampled(record.trace_id, policy.ratio) else Why.OUT
    if load.backlog_seconds <= load.bound_seconds:
        return Why.ALL
    if record.failed:
        return Why.FAILED
    if record.feedback is not None:
        return Why.FEEDBACK
    if load.p95_ms is not None and record.latency_ms > load.p95_ms:
        return Why.SLOW
    if load.new_configuration:
        return Why.NEW
    return Why.SAMPLED if sampled(record.trace_id, load.ratio) else Why.OUT
