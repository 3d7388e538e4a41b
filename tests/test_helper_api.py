"""The helper API with the users' guide's exact calls, through spans, into a real sqlite store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import mlflow
import pytest

from otel_mlflow import (
    flush,
    log_evaluation_metrics,
    log_llm_call,
    log_prediction,
    log_training_run,
)
from otel_mlflow.testing import Capture


def test_log_llm_call(otel_mlflow_capture: Capture) -> None:
    log_llm_call(
        model="gpt-4",
        prompt="What is RAG?",
        response="Retrieval-Augmented Generation...",
        tokens_used=256,
        temperature=0.7,
    )
    [span] = otel_mlflow_capture.spans()
    assert span.attributes["gen_ai.request.model"] == "gpt-4"
    [run] = otel_mlflow_capture.runs()
    assert run.data.params["model"] == "gpt-4"
    assert run.data.params["temperature"] == "0.7"
    assert run.data.metrics["tokens_used"] == 256
    assert run.data.metrics["tokens.total"] == 256
    local = mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/prompt.txt")
    assert Path(local).read_text() == "user: What is RAG?"
    local = mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/response.txt")
    assert Path(local).read_text() == "assistant: Retrieval-Augmented Generation..."


def test_log_prediction(otel_mlflow_capture: Capture) -> None:
    log_prediction(
        question="What is RAG?",
        answer="Retrieval-Augmented Generation",
        context="RAG combines retrieval and generation.",
        latency_ms=125.5,
        model_version="gpt-4-turbo",
        user_feedback="helpful",
    )
    [run] = otel_mlflow_capture.runs()
    assert run.data.metrics["latency_ms"] == pytest.approx(125.5, abs=0.01)
    assert run.data.params["model_version"] == "gpt-4-turbo"
    assert run.data.tags["user_feedback"] == "helpful"
    for name, text in (
        ("question.txt", "What is RAG?"),
        ("answer.txt", "Retrieval-Augmented Generation"),
        ("context.txt", "RAG combines retrieval and generation."),
    ):
        assert Path(mlflow.artifacts.download_artifacts(f"{run.info.artifact_uri}/{name}")).read_text() == text


def test_log_evaluation_metrics_on_the_active_run(otel_mlflow_capture: Capture) -> None:
    with mlflow.start_run(run_name="eval") as active:
        log_evaluation_metrics({"rouge_1": 0.85, "rouge_2": 0.78, "bleu": 0.92, "semantic_similarity": 0.89})
        log_evaluation_metrics({"rouge_1": 0.87}, step=5)
    [run] = otel_mlflow_capture.runs()
    assert run.info.run_id == active.info.run_id
    assert run.data.metrics["rouge_2"] == 0.78 and run.data.metrics["bleu"] == 0.92
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "rouge_1")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.85), (5, 0.87)]


def test_log_evaluation_metrics_without_a_run_makes_one(otel_mlflow_capture: Capture) -> None:
    log_evaluation_metrics({"rouge_1": 0.85})
    [run] = otel_mlflow_capture.runs()
    assert run.info.run_name == "evaluation" and run.data.metrics["rouge_1"] == 0.85


@pytest.mark.parametrize("bad", [{"rouge_1": "high"}, {"bleu": None}, {"f1": True}, {"x": [1.0]}])
def test_non_numeric_metric_is_a_clear_error(otel_mlflow_capture: Capture, bad: dict[str, Any]) -> None:
    key = next(iter(bad))
    with pytest.raises(ValueError, match=f"metric '{key}' must be a number"):
        log_evaluation_metrics({"ok": 1.0, **bad})
    assert otel_mlflow_capture.spans() == []  # nothing half-recorded


def test_numbers_as_mlflow_takes_them(otel_mlflow_capture: Capture) -> None:
    """numpy scalars, Decimal and Fraction are numbers (MLflow's own log_metric takes them); issue 13."""
    import decimal
    import fractions

    import numpy as np

    log_evaluation_metrics(
        {"f32": np.float32(0.5), "i64": np.int64(7), "dec": decimal.Decimal("0.25"), "frac": fractions.Fraction(3, 4)}
    )
    log_prediction(question="q", answer="a", latency_ms=np.int64(12), score=np.float64(0.9))
    runs = otel_mlflow_capture.runs()
    metrics = {k: v for run in runs for k, v in run.data.metrics.items()}
    assert {k: metrics[k] for k in ("f32", "i64", "dec", "frac")} == {"f32": 0.5, "i64": 7, "dec": 0.25, "frac": 0.75}
    assert metrics["prediction_latency_ms"] == 12 and metrics["score"] == 0.9
    with pytest.raises(ValueError, match="metric 'flag' must be a number"):
        log_evaluation_metrics({"flag": np.bool_(True)})


def test_nan_metric_is_dropped_and_counted(otel_mlflow_capture: Capture) -> None:
    log_evaluation_metrics({"rouge_1": float("nan"), "bleu": 0.5})
    [run] = otel_mlflow_capture.runs()
    assert "rouge_1" not in run.data.metrics and run.data.metrics["bleu"] == 0.5
    assert run.data.tags["otel_mlflow.dropped_non_finite_metrics"] == "1"


def test_training_run_decorator(otel_mlflow_capture: Capture) -> None:
    @log_training_run(run_name="rag-training-v1", params={"model": "gpt-4", "k": 5})
    def train() -> str:
        mlflow.log_metric("accuracy", 0.92)
        log_llm_call(model="gpt-4", prompt="p", response="r", tokens_used=10)
        log_evaluation_metrics({"rouge_1": 0.85})
        return "done"

    assert train() == "done"
    [run] = otel_mlflow_capture.runs()
    assert run.info.run_name == "rag-training-v1"
    assert run.info.status == "FINISHED"
    assert run.data.params["model"] == "gpt-4" and run.data.params["k"] == "5"
    assert run.data.metrics["accuracy"] == 0.92
    assert run.data.metrics["tokens_used"] == 10
    assert run.data.metrics["rouge_1"] == 0.85
    assert mlflow.active_run() is None


def test_training_run_decorator_async_keeps_tasks_apart(otel_mlflow_capture: Capture) -> None:
    @log_training_run(run_name="async-a")
    async def train_a() -> None:
        await asyncio.sleep(0.01)
        log_evaluation_metrics({"a_metric": 1.0})

    async def outside() -> None:
        await asyncio.sleep(0.005)
        log_evaluation_metrics({"outside_metric": 2.0})  # not in train_a's run, though the same thread

    async def main() -> None:
        await asyncio.gather(train_a(), outside())

    mlflow_runs_before = otel_mlflow_capture.runs()
    assert mlflow_runs_before == []
    asyncio.run(main())
    runs = {r.info.run_name: r for r in otel_mlflow_capture.runs()}
    assert runs["async-a"].data.metrics["a_metric"] == 1.0
    assert "outside_metric" not in runs["async-a"].data.metrics


def test_training_run_failure_marks_the_run_failed(otel_mlflow_capture: Capture) -> None:
    @log_training_run(run_name="broken")
    def train() -> None:
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        train()
    [run] = otel_mlflow_capture.runs()
    assert run.info.status == "FAILED"


def test_calls_return_before_mlflow_writes(otel_mlflow_capture: Capture) -> None:
    log_llm_call(model="gpt-4", prompt="p", response="r")
    assert otel_mlflow_capture.pipeline.exporter is not None
    assert otel_mlflow_capture.pipeline.exporter.stats.runs_created == 0  # queued, not written yet
    assert flush(30)
    assert otel_mlflow_capture.pipeline.exporter.stats.runs_created == 1


INIT_SCRIPT = textwrap.dedent(
    """
    import sys
    from opentelemetry import trace
    from otel_mlflow import init_mlflow, log_llm_call, flush

    first = init_mlflow(experiment_name="rag-experiments")
    second = init_mlflow(experiment_name="rag-experiments")
    # "" when the store's first open (schema creation) outlasts init's 10 s on a loaded machine: the
    # second call waits on the same lookup, never a second one
    assert second and first in ("", second), (first, second)
    provider = trace.get_tracer_provider()
    log_llm_call(model="gpt-4", prompt="What is RAG?", response="RAG...", tokens_used=256, temperature=0.7)
    assert flush(60)
    import mlflow
    print("provider", type(provider).__name__, "experiment", mlflow.get_experiment(second).name)
    """
)


@pytest.mark.subprocess
def test_init_mlflow_installs_a_pipeline_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    script = tmp_path / "app.py"
    script.write_text(INIT_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "provider TracerProvider experiment rag-experiments" in result.stdout
    assert (tmp_path / "mlflow.db").exists()  # MLflow's default store, in the working directory
    artifacts = list((tmp_path / "mlartifacts").rglob("prompt.txt"))  # one rule: mlartifacts/ beside the store
    assert len(artifacts) == 1 and artifacts[0].read_text() == "user: What is RAG?"


@pytest.mark.subprocess
def test_init_mlflow_keeps_the_provider_of_opentelemetry_instrument(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "OTEL_TRACES_EXPORTER": "mlflow",
            "MLFLOW_EXPERIMENT_NAME": "rag-experiments",
        }
    )
    script = tmp_path / "app.py"
    script.write_text(
        INIT_SCRIPT
        + "\nfrom otel_mlflow.export.exporter import live_exporters\nprint('exporters', len(live_exporters()))\n"
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    result = subprocess.run(
        [str(instrument), sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "exporters 1" in result.stdout  # the zero-code exporter; none added twice
    import mlflow as mlflow_module

    client = mlflow_module.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("rag-experiments")
    assert len(client.search_runs([experiment.experiment_id])) == 1


def test_a_numpy_step_and_a_missing_prompt_are_taken(otel_mlflow_capture: Capture) -> None:
    """Issue 26, item 13: `step=np.int64(2)` was refused (metric values took numpy, steps did not); `prompt=None`
    raised TypeError into the caller."""
    import numpy as np

    with mlflow.start_run(run_name="eval") as active:
        log_evaluation_metrics({"f1": np.float32(0.5)}, step=np.int64(2))
    log_llm_call(model="m", prompt=None, response=None, tokens_used=3)
    runs = otel_mlflow_capture.runs()
    evaluated = next(r for r in runs if r.info.run_id == active.info.run_id)
    [point] = mlflow.MlflowClient().get_metric_history(evaluated.info.run_id, "f1")
    assert (point.step, point.value) == (2, 0.5)
    [call] = [r for r in runs if r.info.run_id != active.info.run_id]
    assert call.data.params["model"] == "m" and call.data.metrics["tokens_used"] == 3
