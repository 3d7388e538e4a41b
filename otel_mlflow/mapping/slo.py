"""Service level objectives checked when a window closes (``OTEL_MLFLOW_SLO``). Pure.

An objective names a closing metric of a window run, a comparison and a bound: ``latency_ms.p95<800``,
``error_rate<0.02``, ``cost_usd.total<=5``. A window meets it when its figure holds the comparison; a window
without that figure (no request streamed, no price) is not judged on it::

    objectives = parse_objectives("latency_ms.p95<800,error_rate<0.02")   # otel_mlflow.config.objectives
    results = check(objectives, {"latency_ms.p95": 912.0, "error_rate": 0.0})
    [r.text for r in results if not r.ok]     # ['latency_ms.p95<800 (912)']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from otel_mlflow import attributes as A
from otel_mlflow.config.objectives import OPERATORS, Objective
from otel_mlflow.mapping.run_plan import PlanBuilder


@dataclass(frozen=True)
class Result:
    objective: Objective
    value: float
    ok: bool

    @property
    def text(self) -> str:
        return f"{self.objective.text} ({self.value:g})"


def check(objectives: Sequence[Objective], figures: Mapping[str, float | None]) -> list[Result]:
    """Each objective whose metric the window has, met or not."""
    results = []
    for objective in objectives:
        value = figures.get(objective.metric)
        if value is not None and math.isfinite(value):
            results.append(Result(objective, value, OPERATORS[objective.op](value, objective.bound)))
    return results


def slo_entries(builder: PlanBuilder, figures: Mapping[str, float], end_ms: int) -> None:
    """A closing window's objectives: ``slo.<metric>.ok`` (1 when every objective on it holds), tag
    ``otel_mlflow.slo`` ``met``/``breached`` and ``otel_mlflow.slo.breached``; the plan keeps the breaches."""
    results = check(builder.options.slo, figures)
    if not results:
        return
    ok: dict[str, bool] = {}
    for result in results:
        ok[result.objective.metric] = ok.get(result.objective.metric, True) and result.ok
    for metric, held in ok.items():
        builder.metric(A.METRIC_SLO_OK.format(metric=metric), int(held), end_ms, 0, absolute=True)
    breaches = [result.text for result in results if not result.ok]
    builder.tag(A.TAG_SLO, "breached" if breaches else "met")
    if breaches:
        builder.tag(A.TAG_SLO_BREACHED, "; ".join(breaches))
        builder.plan.slo_breaches = breaches
        builder.plan.alert = {"figures": {k: v for k, v in figures.items() if v is not None and math.isfinite(v)}}


def slo_alert(builder: PlanBuilder, service: str, configuration: Mapping[str, str], start_ns: int) -> dict[str, Any]:
    """What a webhook is told of a breaching window (strings through the scrubber): the writer adds ``run_id``
    and ``run_url`` once the closing write has landed."""
    text = builder.options.scrubber.text
    figures = (builder.plan.alert or {}).get("figures", {})
    return {
        "event": "otel_mlflow.slo.breached",
        "service": text(service),
        "configuration": {text(k): text(str(v)) for k, v in configuration.items()},
        "window": {"start_ms": start_ns // 1_000_000, "end_ms": builder.plan.end_ms},
        "breaches": [text(b) for b in builder.plan.slo_breaches],
        "figures": figures,
    }
