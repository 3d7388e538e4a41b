"""The example RAG app run zero-code in a subprocess: uvicorn on 127.0.0.1, stopped with SIGTERM."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo

pytestmark = pytest.mark.subprocess


def test_example_app_runs_land_in_mlflow_after_sigterm(tmp_path: Path, store: Store) -> None:
    env = demo.demo_env()
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before SIGTERM: the flush must do it
            "OTEL_MLFLOW_RUN_MODE": "trace",  # a run per request, to check each one
        }
    )
    questions = [
        {"question": "What is RAG?", "k": 2},
        {"question": "What is a span?", "k": 1},
        {"question": "please fail", "k": 1},
    ]
    answers = demo.run_app(env, questions, tmp_path / "app.log")
    assert [status for status, _ in answers] == [200, 200, 502]
    runs = store.runs()
    assert len(runs) == 3, (tmp_path / "app.log").read_text()[-3000:]
    by_question = {store.artifact_text(r, "question.txt"): r for r in runs}
    ok = by_question["What is RAG?"]
    assert ok.info.status == "FINISHED"
    assert ok.data.params["model"] == "demo-llm" and ok.data.params["k"] == "2"
    assert ok.data.metrics["gen_ai.usage.input_tokens"] > 0
    assert ok.data.tags["service.name"] == "rag-api"
    assert ok.data.tags["http.route"] == "/ask"
    assert store.artifact_text(ok, "answer.txt") == answers[0][1]["answer"]
    assert "Retrieval-Augmented Generation" in store.artifact_text(ok, "context.txt")
    assert by_question["please fail"].info.status == "FAILED"


def test_default_auto_mode_gives_window_runs_with_a_predictions_table(tmp_path: Path, store: Store) -> None:
    env = demo.demo_env()
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    questions = [
        {"question": "What is RAG?", "k": 2},
        {"question": "What is MLflow?", "k": 2},
        {"question": "please fail", "k": 2},
        {"question": "What is a span?", "k": 1},
    ]
    demo.run_app(env, questions, tmp_path / "app.log", feedback={0: ("helpful", None), 2: ("wrong", "no answer")})
    runs = {r.data.params.get("k"): r for r in store.runs()}
    assert set(runs) == {"1", "2"}  # one window per configuration
    window = runs["2"]
    assert window.info.status == "FINISHED"  # closed by SIGTERM
    assert window.data.metrics["request_count"] == 3 and window.data.metrics["error_count"] == 1
    table = json.loads(store.artifact_text(window, "predictions.json"))
    assert [row[1] for row in table["data"]] == ["What is RAG?", "What is MLflow?", "please fail"]
    error = table["data"][2][table["columns"].index("error")]
    assert error.startswith("HTTP 502: ") and "demo model failure" in error  # the failed row says why
    # told apart by name; the app's /health probes made no run; every request is a trace linked to its window
    assert window.info.run_name.startswith("rag-api k=2 ") and runs["1"].info.run_name.startswith("rag-api k=1 ")
    traces = store.client().search_traces(locations=[window.info.experiment_id], run_id=window.info.run_id)
    assert sorted(json.loads(t.info.request_preview)["question"] for t in traces) == [
        "What is MLflow?",
        "What is RAG?",
        "please fail",
    ]
    # POST /feedback with /ask's x-trace-id: an MLflow assessment on that trace, and the window's counts
    feedback = {
        json.loads(t.info.request_preview)["question"]: [
            (a.value, a.rationale) for a in t.info.assessments if a.name == "user_feedback"
        ]
        for t in traces
    }
    assert feedback == {
        "What is RAG?": [("helpful", None)],
        "What is MLflow?": [],
        "please fail": [("wrong", "no answer")],
    }
    assert window.data.metrics["feedback.helpful"] == 1 and window.data.metrics["feedback.wrong"] == 1
    assert [row[table["columns"].index("feedback")] for row in table["data"]] == ["helpful", None, "wrong"]


def test_the_demo_summary_says_what_it_wrote_and_where_to_look(
    tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    env = demo.demo_env()
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    demo.run_app(env, [{"question": "What is RAG?", "k": 2}], tmp_path / "app.log")
    capsys.readouterr()
    assert demo.summarize(store.uri, "llmops-rag", 0) == 0
    out = capsys.readouterr().out
    experiment = store.client().get_experiment_by_name("llmops-rag")
    assert "1 MLflow trace(s)" in out and "Window runs (1) hold predictions.json" in out
    assert "Per-trace runs" not in out  # the demo makes none: its summary does not speak of them
    assert f"Artifacts are under {experiment.artifact_location}" in out
    assert f"ui --backend-store-uri {store.uri} --port 5000" in out
    assert f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/traces" in out


def test_disabled_instrumentations_are_honoured(tmp_path: Path, store: Store) -> None:
    env = demo.demo_env()
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "otel_mlflow_llm_service,otel_mlflow_fastapi",
            "OTEL_MLFLOW_RUN_MODE": "trace",
        }
    )
    demo.run_app(env, [{"question": "What is RAG?", "k": 2}], tmp_path / "app.log")
    [run] = store.runs()
    assert "model" not in run.data.params  # no LLM span
    assert "k" not in run.data.params  # no request capture
    assert run.data.tags["http.route"] == "/ask"  # the official FastAPI instrumentation still ran


def test_manual_example_writes_three_runs(tmp_path: Path) -> None:
    """As its README says, `.venv/bin/python examples/manual/app.py` with no settings: ./mlflow.db of the folder
    it runs in (here a temp folder, not the checkout), and the printed UI command opens that store."""
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    app = Path(__file__).resolve().parents[1] / "examples" / "manual" / "app.py"
    result = subprocess.run(
        [sys.executable, str(app)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (
        "3 runs written to sqlite:///mlflow.db; open them with: mlflow ui --backend-store-uri sqlite:///mlflow.db"
        in result.stdout
    )
    store = Store(root=tmp_path, uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifacts=tmp_path / "mlartifacts")
    assert store.artifacts.is_dir()  # the one artifact rule: mlartifacts/ beside a sqlite store
    runs = store.runs()
    assert len(runs) == 3
    assert {r.data.params.get("provider") for r in runs} == {"demo"}
    estimated = [r for r in runs if r.data.tags.get("otel_mlflow.usage.estimated") == "true"]
    assert len(estimated) == 1
