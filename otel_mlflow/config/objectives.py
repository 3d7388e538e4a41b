"""The grammar of ``OTEL_MLFLOW_SLO``: objectives such as ``latency_ms.p95<800`` (checked by
:mod:`otel_mlflow.mapping.slo` when a window closes)::

    parse_objectives("latency_ms.p95<800,error_rate<0.02")   # (Objective('latency_ms.p95', '<', 800.0), ...)
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_OBJECTIVE = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")
EXAMPLE = "latency_ms.p95<800,error_rate<0.02,cost_usd.total<5"


@dataclass(frozen=True)
class Objective:
    metric: str
    op: str
    bound: float

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_objectives(text: str) -> tuple[Objective, ...]:
    """Comma-separated objectives; :class:`ValueError` naming the one that is not ``<metric><op><number>``."""
    out = []
    for part in (p for p in text.split(",") if p.strip()):
        match = _OBJECTIVE.match(part)
        bound = _number(match.group(3)) if match else None
        if match is None or bound is None:
            raise ValueError(f"{part.strip()!r} is not <metric><op><number> (ops: < <= > >=), e.g. {EXAMPLE}")
        out.append(Objective(match.group(1), match.group(2), bound))
    return tuple(out)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
