"""Configurations compared on live traffic: is B better than A? (``otel-mlflow compare``)::

    from otel_mlflow.compare import compare_configurations
    report = compare_configurations("llmops-rag", by=["k"], baseline="2", since="24h")
    print(report.table())                 # per metric: baseline, candidate, diff, 95% CI, p, adjusted p, effect, n
    report.log(client)                    # one comparison run per candidate, linked to the runs it read
    report.chart("comparison.png")

The requests are those of the experiment's closed window runs (``OTEL_MLFLOW_RUN_MODE=window``, or ``auto`` for a web
app), read from their predictions tables (:mod:`.reading`); each candidate configuration is compared with the
baseline metric by metric (:mod:`.metrics`, :mod:`.statistics`), every p-value adjusted together
(Benjamini-Hochberg). Instead of ``by``, ``run_sets`` compares sets of run ids (the first is the baseline).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from otel_mlflow.compare.metrics import compare_requests
from otel_mlflow.compare.reading import Request, group_by, requests_of, window_runs
from otel_mlflow.compare.statistics import MetricComparison, adjust

__all__ = ["CompareError", "Comparison", "compare_configurations", "parse_time"]


class CompareError(ValueError):
    """The comparison cannot be made as asked; the message says what to change."""


@dataclass
class Comparison:
    """What :func:`compare_configurations` found: the groups read and each candidate's results."""

    experiment: str
    experiment_id: str
    by: tuple[str, ...]
    baseline: str
    since_ms: int | None
    until_ms: int | None
    runs: dict[str, list[str]]
    """Configuration -> the window run ids read."""
    requests: dict[str, int]
    """Configuration -> requests compared."""
    results: dict[str, list[MetricComparison]] = field(default_factory=dict)
    """Candidate configuration -> its comparisons with the baseline."""
    logged: dict[str, str] = field(default_factory=dict)
    """Candidate configuration -> its comparison run id (after :meth:`log`)."""

    def table(self) -> str:
        from otel_mlflow.compare.report import text_table

        return text_table(self)

    def chart(self, path: str) -> str:
        from otel_mlflow.compare.report import write_chart

        return write_chart(self, path)

    def log(self, client: Any) -> dict[str, str]:
        from otel_mlflow.compare.report import log_comparison

        self.logged = log_comparison(self, client)
        return self.logged


def compare_configurations(
    experiment: str,
    by: Sequence[str] = (),
    baseline: str | None = None,
    since: str | None = None,
    until: str | None = None,
    service: str | None = None,
    run_sets: Sequence[Sequence[str]] = (),
    tracking_uri: str | None = None,
    seed: int = 0,
) -> Comparison:
    """Compare the configurations of ``experiment``'s window runs by the params ``by`` (or the ``run_sets``).

    ``baseline``: the value of the compared field(s) to compare the others with (``2`` or ``k=2``; default: the
    configuration with the most requests). ``since``/``until``: ISO 8601 times or ages such as ``24h`` (default:
    all). Raises :class:`CompareError` naming what to change."""
    from mlflow import MlflowClient

    if bool(by) == bool(run_sets):
        raise CompareError("compare by param(s) (--by k) or by run id sets (--runs ID,ID --runs ID), one of the two")
    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise CompareError(f"no experiment {experiment!r} in {client.tracking_uri}: name it with --experiment")
    since_ms, until_ms = parse_time(since), parse_time(until)
    if run_sets:
        groups = {f"runs{i}": [client.get_run(r) for r in ids] for i, ids in enumerate(run_sets, start=1)}
    else:
        runs = window_runs(client, found.experiment_id, since_ms, until_ms, service)
        if not runs:
            raise CompareError(
                f"no window runs in experiment {experiment!r} in that time: serve with OTEL_MLFLOW_RUN_MODE=window "
                "(or auto) and let windows close (OTEL_MLFLOW_WINDOW_SECONDS), or widen --since/--until"
            )
        groups = group_by(runs, by)
    requests = {label: requests_of(client, group, since_ms, until_ms) for label, group in groups.items()}
    requests = {label: rows for label, rows in requests.items() if rows}
    if len(requests) < 2:
        raise CompareError(
            f"only {len(requests)} configuration(s) with requests ({', '.join(requests) or 'none'}): nothing to "
            f"compare; choose another --by among the runs' params, or widen --since/--until"
        )
    chosen = _baseline(baseline, requests, by)
    report = Comparison(
        experiment=experiment,
        experiment_id=found.experiment_id,
        by=tuple(by),
        baseline=chosen,
        since_ms=since_ms,
        until_ms=until_ms,
        runs={label: [r.info.run_id for r in groups[label]] for label in requests},
        requests={label: len(rows) for label, rows in requests.items()},
    )
    raw = {c: compare_requests(requests[chosen], rows, seed) for c, rows in requests.items() if c != chosen}
    flat = adjust([r for results in raw.values() for r in results])
    for candidate, results in raw.items():
        report.results[candidate], flat = flat[: len(results)], flat[len(results) :]
    return report


def _baseline(asked: str | None, requests: dict[str, list[Request]], by: Sequence[str]) -> str:
    if asked is None:
        return max(requests, key=lambda label: len(requests[label]))
    candidates = [asked, ",".join(f"{f}={v}" for f, v in zip(by, asked.split(","), strict=False))]
    for label in candidates:
        if label in requests:
            return label
    raise CompareError(f"baseline {asked!r} is none of the configurations found: {', '.join(sorted(requests))}")


_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(text: str | None, now: float | None = None) -> int | None:
    """``24h``/``30m``/``7d`` ago, an ISO 8601 time (UTC when no zone), or epoch milliseconds -> epoch ms."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    if age := _AGE.fullmatch(text):
        seconds = float(age.group(1)) * _UNIT_SECONDS[age.group(2)]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CompareError(f"{text!r} is not a time: give 24h, 30m, 7d, or ISO 8601 (2026-12-06T10:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)
