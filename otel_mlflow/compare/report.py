"""A comparison shown: a text table, a PNG chart, and comparison runs in MLflow::

    print(text_table(report))
    write_chart(report, "comparison.png")
    log_comparison(report, MlflowClient())   # {candidate: run id}

Each candidate gets one run in the experiment, named ``compare k=5 vs k=2``, with MLflow 3.18's metric names for a
comparison (``compare/<baseline>/<metric>/diff``, ``ci_low``, ``ci_high``, ``p_value``, ``effect_size``, ``n``; plus
``p_value_adjusted``, ``n_baseline``, ``baseline`` and ``candidate``), the table as ``comparison.json`` (MLflow's
table artifact), the chart, and tags naming the window runs it read, so MLflow's UI lines the candidates up.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from otel_mlflow.compare.statistics import ALPHA, MIN_EVENTS, MIN_REQUESTS, MetricComparison

if TYPE_CHECKING:
    from otel_mlflow.compare import Comparison

RUN_MODE = "comparison"
TAG_BY = "otel_mlflow.compare.by"
TAG_BASELINE = "otel_mlflow.compare.baseline"
TAG_CANDIDATE = "otel_mlflow.compare.candidate"
TAG_BASELINE_RUNS = "otel_mlflow.compare.baseline_runs"
TAG_CANDIDATE_RUNS = "otel_mlflow.compare.candidate_runs"
MAX_TAG_CHARS = 8000
COLUMNS = (
    *("metric", "statistic", "baseline", "candidate", "diff", "ci_low", "ci_high", "p_value", "p_value_adjusted"),
    *("effect_size", "n_baseline", "n_candidate", "test", "verdict"),
)


def verdict(r: MetricComparison) -> str:
    if not r.enough:
        return "too little traffic"
    if not r.significant:
        return "no difference found"
    return "higher" if r.diff > 0 else "lower"


def text_table(report: Comparison) -> str:
    """The comparison as lines of text: one block per candidate, one line per metric."""
    until = _when(report.until_ms) if report.until_ms else "now"
    when = f"{_when(report.since_ms)} .. {until}" if report.since_ms or report.until_ms else "all"
    sizes = ", ".join(f"{c}: {n:,} requests ({len(report.runs[c])} runs)" for c, n in report.requests.items())
    count = sum(len(rs) for rs in report.results.values())
    lines = [f"experiment {report.experiment!r}, time {when}; {sizes}", f"baseline {report.baseline}"]
    header = f"{'metric':<28}{'stat':>7}{'baseline':>11}{'candidate':>11}{'diff':>11}  {'95% CI':<24}"
    header += f"{'p':>8}{'p adj.':>8}{'effect':>8}{'n':>13}  verdict"
    for candidate, results in report.results.items():
        lines += ["", f"{candidate} vs {report.baseline}", header]
        for r in results:
            ci = f"[{_num(r.ci_low, True)}, {_num(r.ci_high, True)}]"
            lines.append(
                f"{r.metric:<28}{r.statistic:>7}{_num(r.baseline):>11}{_num(r.candidate):>11}"
                f"{_num(r.diff, True):>11}  {ci:<24}{_p(r.p_value):>8}{_p(r.p_adjusted):>8}"
                f"{r.effect_size:>+8.2f}{f'{r.n_baseline}/{r.n_candidate}':>13}  {verdict(r)}"
            )
    lines += [
        "",
        f"diff = candidate - baseline; p adj.: Benjamini-Hochberg over all {count} comparisons; a difference is "
        f"called when p adj. < {ALPHA}.",
        f"Too little traffic: fewer than {MIN_REQUESTS} requests a side (a rate also needs {MIN_EVENTS} events).",
    ]
    return "\n".join(lines)


def write_chart(report: Comparison, path: str) -> str:
    """A PNG: one panel per metric, each candidate's difference from the baseline with its 95% interval."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    from matplotlib import pyplot as plt

    metrics = list(dict.fromkeys(r.metric for rs in report.results.values() for r in rs))
    figure, axes = plt.subplots(len(metrics), 1, figsize=(8, 1.2 + 1.1 * len(metrics)), squeeze=False)
    for axis, metric in zip(axes[:, 0], metrics, strict=True):
        rows = [(c, r) for c, rs in report.results.items() for r in rs if r.metric == metric]
        for y, (_, r) in enumerate(rows):
            color = "tab:red" if r.significant else "tab:gray"
            axis.errorbar(r.diff, y, xerr=[[r.diff - r.ci_low], [r.ci_high - r.diff]], fmt="o", color=color)
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_yticks(range(len(rows)), [c for c, _ in rows])
        axis.set_ylim(-0.8, len(rows) - 0.2)
        axis.set_title(f"{metric} ({rows[0][1].statistic}): candidate - {report.baseline}", fontsize=9, loc="left")
    figure.suptitle("otel-mlflow compare: red = difference found (BH-adjusted p < 0.05)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def log_comparison(report: Comparison, client: Any) -> dict[str, str]:
    """One comparison run per candidate; returns their ids."""
    import tempfile
    from pathlib import Path

    from mlflow.entities import Metric, Param

    from otel_mlflow import attributes as A

    logged: dict[str, str] = {}
    now = int(datetime.now(timezone.utc).timestamp() * 1000)
    with tempfile.TemporaryDirectory(prefix="otel-mlflow-compare-") as scratch:
        chart = write_chart(report, str(Path(scratch) / "comparison.png"))
        for candidate, results in report.results.items():
            run = client.create_run(
                report.experiment_id,
                run_name=f"compare {candidate} vs {report.baseline}",
                tags={
                    A.TAG_RUN_MODE: RUN_MODE,
                    TAG_BY: ",".join(report.by) or "runs",
                    TAG_BASELINE: report.baseline,
                    TAG_CANDIDATE: candidate,
                    TAG_BASELINE_RUNS: _ids(report.runs[report.baseline]),
                    TAG_CANDIDATE_RUNS: _ids(report.runs[candidate]),
                    "mlflow.note.content": _note(report, candidate),
                },
            )
            run_id = run.info.run_id
            params = {"baseline": report.baseline, "candidate": candidate, "by": ",".join(report.by) or "runs"}
            params |= {"since": _when(report.since_ms), "until": _when(report.until_ms)}
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, now, 0) for k, v in metric_values(report.baseline, results).items()],
                params=[Param(k, v) for k, v in params.items()],
            )
            client.log_table(run_id, {c: [_cell(getattr(r, c, None), r, c) for r in results] for c in COLUMNS},
                             "comparison.json")  # fmt: skip
            client.log_artifact(run_id, chart)
            client.set_terminated(run_id)
            logged[candidate] = run_id
    return logged


def metric_values(baseline: str, results: Sequence[MetricComparison]) -> dict[str, float]:
    """``compare/<baseline>/<metric>/<figure>`` -> value, NaN left out (MLflow 3.18's names for a comparison)."""
    out: dict[str, float] = {}
    for r in results:
        prefix = f"compare/{_key(baseline)}/{_key(r.metric)}"
        figures = {
            "diff": r.diff,
            "ci_low": r.ci_low,
            "ci_high": r.ci_high,
            "p_value": r.p_value,
            "p_value_adjusted": r.p_adjusted,
            "effect_size": r.effect_size,
            "n": r.n_candidate,
            "n_baseline": r.n_baseline,
            "baseline": r.baseline,
            "candidate": r.candidate,
        }
        out |= {f"{prefix}/{name}": float(v) for name, v in figures.items() if not math.isnan(float(v))}
    return out


def _key(text: str) -> str:
    """A path segment MLflow takes in a metric name (``k=2`` -> ``k_2``; no ``/``)."""
    return re.sub(r"[^\w.\- ]", "_", text)[:200] or "_"


def _cell(value: Any, r: MetricComparison, column: str) -> Any:
    if column == "verdict":
        return verdict(r)
    if column == "p_value_adjusted":
        return r.p_adjusted
    return None if isinstance(value, float) and math.isnan(value) else value


def _ids(run_ids: Sequence[str]) -> str:
    text = ",".join(run_ids)
    return text if len(text) <= MAX_TAG_CHARS else text[: text.rfind(",", 0, MAX_TAG_CHARS - 12)] + ",(and more)"


def _note(report: Comparison, candidate: str) -> str:
    """The run's description (MLflow's UI shows it as markdown): the verdicts in a table."""
    rows = [f"| {r.metric} | {_num(r.diff, True)} | {_p(r.p_adjusted)} | {verdict(r)} |"
            for r in report.results[candidate]]  # fmt: skip
    head = f"**{candidate}** vs baseline **{report.baseline}** ({report.requests[candidate]:,} vs "
    head += f"{report.requests[report.baseline]:,} requests)\n\n| metric | diff | p adj. | verdict |\n|---|---|---|---|"
    return "\n".join([head, *rows])


def _num(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:+.4g}" if signed else f"{value:.4g}"


def _p(value: float) -> str:
    return "-" if math.isnan(value) else "<0.001" if value < 0.001 else f"{value:.3f}"


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
