"""The tags of an experiment otel-mlflow creates: how MLflow 3's UI opens it, and a runs-table view that shows
what our runs record.

Pure: names in, tags out. Two things MLflow's UI reads (checked against the UI bundled with MLflow 3.17.2):

- ``mlflow.experimentKind = genai_development``: the experiment opens on its GenAI views (Overview, Traces,
  Sessions), which the linked traces fill; the runs are one click away, under Training runs.
- ``mlflow.sharedViewState.<key>``: a *shared view* of the runs table (what the UI's Views > Share stores), opened
  by ``#/experiments/<id>/runs?viewStateShareKey=<key>``. Its JSON names the columns to show (``selectedColumns``,
  ``params.`k``` / ``metrics.`latency_ms.p50``` as the UI spells them); a column no run has is not shown. Without
  it the runs table shows names and dates only. The UI offers to keep the view ("Override saved view").
  The format is the UI's own, not an API: ``tests/test_ui.py`` opens the URL and fails when the columns are gone.

Usage::

    tags = experiment_tags(param_fields=("k",))
    client.create_experiment(name, tags=tags)
    url = f"{base}/#/experiments/{experiment_id}/runs{runs_view_query(experiment.tags)}"
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from otel_mlflow import attributes as A
from otel_mlflow.mlflow_limits import MAX_EXPERIMENT_TAG_VALUE_CHARS, is_valid_key

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
GENAI_KIND = "genai_development"
RUNS_VIEW_KEY = "otel-mlflow"
RUNS_VIEW_TAG = f"mlflow.sharedViewState.{RUNS_VIEW_KEY}"
RUNS_VIEW_METRICS = (
    A.METRIC_REQUESTS,
    A.METRIC_ERROR_RATE,
    A.METRIC_LATENCY_P50,
    A.METRIC_LATENCY_P95,  # window runs
    A.METRIC_LATENCY,
    A.METRIC_TOTAL_TOKENS,
    A.METRIC_COST_TOTAL,
    A.METRIC_COST,  # both / per-trace runs
)
"""Metric columns of the shared view, in this order; each shown only when some run has it."""


def experiment_tags(param_fields: Sequence[str] = ()) -> dict[str, str]:
    """Tags for a new experiment: the GenAI kind and the runs view (params ``model`` and ``param_fields``, as many
    as fit in an experiment tag: a longer value would make MLflow refuse to create the experiment)."""
    params = [f"params.`{name}`" for name in dict.fromkeys(("model", *param_fields)) if is_valid_key(name)]
    metrics = [f"metrics.`{name}`" for name in RUNS_VIEW_METRICS]
    view = json.dumps({"selectedColumns": params + metrics})
    while len(view) > MAX_EXPERIMENT_TAG_VALUE_CHARS:
        params.pop()
        view = json.dumps({"selectedColumns": params + metrics})
    return {EXPERIMENT_KIND_TAG: GENAI_KIND, RUNS_VIEW_TAG: view}


def runs_view_query(experiment_tags: Mapping[str, str]) -> str:
    """``?viewStateShareKey=...`` for a runs-table URL of an experiment that has our view, else ``""``."""
    return f"?viewStateShareKey={RUNS_VIEW_KEY}" if RUNS_VIEW_TAG in experiment_tags else ""
