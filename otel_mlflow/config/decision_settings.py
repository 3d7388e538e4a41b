"""The settings rows of what users decide from telemetry: objectives checked when a window closes, the alert webhook,
and the evaluation cases collected from production (one row each, as in :mod:`.settings`, which lists them)."""

from __future__ import annotations

from otel_mlflow.config import parse
from otel_mlflow.config.eval_rule import DEFAULT_RULE
from otel_mlflow.config.setting import Setting

# fmt: off
ENV_SLO = Setting(
    "OTEL_MLFLOW_SLO", field="slo", parse=parse.objectives, default=(), default_doc="none",
    meaning="objectives checked when a window closes, on its closing metrics: `latency_ms.p95<800,error_rate<0.02,"
            "cost_usd.total<5` (ops `<` `<=` `>` `>=`). The run gets `slo.<metric>.ok` (1 or 0) and the tag "
            "`otel_mlflow.slo` (`met` or `breached`, with `otel_mlflow.slo.breached` naming each), and a breach "
            "one warning in the log")
ENV_ALERT_WEBHOOK = Setting(
    "OTEL_MLFLOW_ALERT_WEBHOOK", field="alert_webhook", default_doc="none",
    meaning="a URL that gets a JSON POST when a window breaches an `OTEL_MLFLOW_SLO` objective (service, "
            "configuration, window, figures, breaches, run id and URL; secrets masked), sent by the writer and "
            "retried with backoff on errors and 5xx")
ENV_EVAL_DATASET = Setting(
    "OTEL_MLFLOW_EVAL_DATASET", field="eval_dataset", default_doc="none (off)",
    meaning="an MLflow GenAI evaluation dataset (created in the experiment when missing) that collects the "
            "requests `OTEL_MLFLOW_EVAL_RULE` picks when their window closes (or their per-trace run is written): "
            "inputs (question), outputs (answer or error), expectations (the user's feedback), each case once "
            "(MLflow keys records by inputs)")
ENV_EVAL_RULE = Setting(
    "OTEL_MLFLOW_EVAL_RULE", field="eval_rule", parse=parse.eval_rule, default=DEFAULT_RULE,
    meaning="which requests become evaluation cases, any of: `failed`, `latency_ms>2000` (slow), "
            "`feedback=wrong` (a feedback value; `feedback=negative`: wrong, unhelpful, bad, thumbs_down, ...)")
# fmt: on
