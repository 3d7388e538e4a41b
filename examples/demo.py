"""The main job (`make demo`): a small LLM app run under `opentelemetry-instrument`, its spans
written to an embedded sqlite MLflow store, then a summary of what landed and how to look at it.

Uses MLFLOW_TRACKING_URI when set; otherwise ./mlflow.db (MLflow's own default) and ./mlartifacts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE / "demo_app.py"


def main() -> int:
    env = dict(os.environ)
    env.setdefault("MLFLOW_TRACKING_URI", "sqlite:///mlflow.db")
    env.setdefault("MLFLOW_ARTIFACT_PATH", str(Path("mlartifacts").resolve()))
    env.setdefault("MLFLOW_EXPERIMENT_NAME", "llmops-rag")
    env.setdefault("OTEL_SERVICE_NAME", "rag-demo")
    env["OTEL_TRACES_EXPORTER"] = "mlflow"
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    print(f"Running {APP.name} under opentelemetry-instrument, writing to {env['MLFLOW_TRACKING_URI']} ...")
    result = subprocess.run([str(instrument), sys.executable, str(APP)], env=env)
    if result.returncode != 0:
        print("The demo app failed; see the output above.", file=sys.stderr)
        return result.returncode
    return summarize(env["MLFLOW_TRACKING_URI"], env["MLFLOW_EXPERIMENT_NAME"])


def summarize(tracking_uri: str, experiment_name: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        print(f"No experiment {experiment_name!r} in {tracking_uri}: nothing was written.", file=sys.stderr)
        return 1
    runs = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"], max_results=10)
    print(f"\nExperiment {experiment_name!r} (id {experiment.experiment_id}) in {tracking_uri}")
    print(f"{'run':<34} {'name':<14} {'model':<10} {'in':>5} {'out':>5} {'latency ms':>11}")
    for run in runs:
        m = run.data.metrics
        print(
            f"{run.info.run_id:<34} {run.info.run_name[:14]:<14} {run.data.params.get('model', '-'):<10} "
            f"{m.get('tokens.input_total', 0):>5.0f} {m.get('tokens.output_total', 0):>5.0f} "
            f"{m.get('latency_ms', 0):>11.2f}"
        )
    print("\nOpen the MLflow UI on this store:")
    print(f"  .venv/bin/mlflow ui --backend-store-uri {tracking_uri} --port 5000")
    print("  then http://127.0.0.1:5000 -> Experiments -> " + experiment_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
