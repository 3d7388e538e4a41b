"""``otel-mlflow compare``: configurations compared on live traffic, from the command line::

    otel-mlflow compare --by k [--baseline 2] [--since 24h] [--until 2026-12-06T12:00Z] [--experiment NAME]
                        [--service NAME] [--chart comparison.png] [--no-log]
    otel-mlflow compare --runs RUN_ID,RUN_ID --runs RUN_ID     # sets of window runs; the first is the baseline

The store is ``MLFLOW_TRACKING_URI`` (MLflow's default when unset), the experiment ``--experiment`` or
``MLFLOW_EXPERIMENT_NAME``. Prints the table; unless ``--no-log``, logs a comparison run per candidate.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from otel_mlflow.compare import CompareError, compare_configurations


def add_parser(commands: Any) -> None:
    compare = commands.add_parser(
        "compare",
        help="compare configurations (k, model, prompt version...) of window runs: differences, 95%% intervals, "
        "p-values; logs a comparison run",
    )
    compare.add_argument("--by", action="append", default=[], help="a param to compare by (repeat for several)")
    compare.add_argument(
        "--runs", action="append", default=[], help="a comma-separated set of run ids (repeat; first = baseline)"
    )
    compare.add_argument("--baseline", help="the configuration to compare with (default: the most requests)")
    compare.add_argument("--since", help="24h, 30m, 7d or an ISO 8601 time (default: all)")
    compare.add_argument("--until", help="as --since (default: now)")
    compare.add_argument("--experiment", help="experiment name (default MLFLOW_EXPERIMENT_NAME, else llmops-rag)")
    compare.add_argument("--service", help="only this service's window runs")
    compare.add_argument("--chart", help="also write the chart (PNG) to this file")
    compare.add_argument("--no-log", action="store_true", help="print only: log no comparison run")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0: the same figures each time)")
    compare.add_argument("--log-level", default="WARNING")


def run(args: argparse.Namespace) -> int:
    from mlflow import MlflowClient

    from otel_mlflow.config.settings import DEFAULT_EXPERIMENT_NAME

    experiment = args.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT_NAME
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or None  # MLflow's default store when unset
    try:
        report = compare_configurations(
            experiment,
            tracking_uri=tracking_uri,
            by=args.by,
            baseline=args.baseline,
            since=args.since,
            until=args.until,
            service=args.service,
            run_sets=[[r for r in ids.split(",") if r.strip()] for ids in args.runs],
            seed=args.seed,
        )
    except CompareError as exc:
        print(f"otel-mlflow compare: {exc}", file=sys.stderr)
        return 2
    print(report.table())
    if args.chart:
        print(f"\nchart: {report.chart(args.chart)}")
    if not args.no_log:
        for candidate, run_id in report.log(MlflowClient(tracking_uri=tracking_uri)).items():
            print(f"comparison run {run_id}: {candidate} vs {report.baseline}")
    return 0
