"""The example RAG app run zero-code in a subprocess: uvicorn on 127.0.0.1, stopped with SIGTERM."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo  # noqa: E402

pytestmark = pytest.mark.subprocess


def test_example_app_runs_land_in_mlflow_after_sigterm(tmp_path: Path, store: Store) -> None:
    env = demo.demo_env()
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before SIGTERM: the flush must do it
        }
    )
    questions = [{"question": "What is RAG?", "k": 2}, {"question": "What is a span?", "k": 1},
                 {"question": "please fail", "k": 1}]  # fmt: skip
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


def test_disabled_instrumentations_are_honoured(tmp_path: Path, store: Store) -> None:
    env = demo.demo_env()
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "otel_mlflow_llm_service,otel_mlflow_fastapi",
        }
    )
    demo.run_app(env, [{"question": "What is RAG?", "k": 2}], tmp_path / "app.log")
    [run] = store.runs()
    assert "model" not in run.data.params  # no LLM span
    assert "k" not in run.data.params  # no request capture
    assert run.data.tags["http.route"] == "/ask"  # the official FastAPI instrumentation still ran


def test_manual_example_writes_three_runs(tmp_path: Path, store: Store) -> None:
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    app = Path(__file__).resolve().parents[1] / "examples" / "manual" / "app.py"
    result = subprocess.run([sys.executable, str(app)], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = store.runs()
    assert len(runs) == 3
    assert {r.data.params.get("provider") for r in runs} == {"demo"}
    estimated = [r for r in runs if r.data.tags.get("otel_mlflow.usage.estimated") == "true"]
    assert len(estimated) == 1
