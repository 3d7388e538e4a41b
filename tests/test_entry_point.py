"""Zero-code: `opentelemetry-instrument` with OTEL_TRACES_EXPORTER=mlflow selects our exporter."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import Store

pytestmark = pytest.mark.subprocess

SCRIPT = textwrap.dedent(
    """
    from opentelemetry import trace

    tracer = trace.get_tracer("zero-code-test")
    with tracer.start_as_current_span("batch-job") as root:
        with tracer.start_as_current_span("chat gpt-4") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.request.model", "gpt-4")
            chat.set_attribute("gen_ai.usage.input_tokens", 12)
            chat.set_attribute("gen_ai.usage.output_tokens", 34)
    print("provider:", type(trace.get_tracer_provider()).__name__)
    """
)


def run_instrumented(tmp_path: Path, store: Store, extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update(
        {
            "MLFLOW_TRACKING_URI": store.uri,
            "MLFLOW_ARTIFACT_PATH": str(store.artifacts),
            "OTEL_SERVICE_NAME": "zero-code-app",
        }
    )
    env.update(extra_env)
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    return subprocess.run(
        [str(instrument), sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )


def test_traces_exporter_mlflow_writes_a_run(tmp_path: Path, store: Store) -> None:
    result = run_instrumented(tmp_path, store, {"OTEL_TRACES_EXPORTER": "mlflow"})
    assert result.returncode == 0, result.stderr
    assert "provider: TracerProvider" in result.stdout
    [run] = store.runs()
    assert run.info.run_name == "batch-job"
    assert run.data.params["model"] == "gpt-4"
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
    assert run.data.tags["service.name"] == "zero-code-app"


def test_mlflow_is_the_default_exporter_of_our_distro(tmp_path: Path, store: Store) -> None:
    result = run_instrumented(tmp_path, store, {})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert len(store.runs()) == 1


def test_bad_setting_is_reported_by_name(tmp_path: Path, store: Store) -> None:
    result = run_instrumented(tmp_path, store, {"OTEL_TRACES_EXPORTER": "mlflow", "OTEL_MLFLOW_RUN_MODE": "hourly"})
    assert "OTEL_MLFLOW_RUN_MODE='hourly' is not a run mode" in result.stderr
    assert result.returncode == 0 and "provider:" in result.stdout  # the app itself still runs
    assert store.runs() == []


def test_spans_inside_an_mlflow_run_land_in_it_zero_code(tmp_path: Path, store: Store) -> None:
    """The ``otel_mlflow_runs`` instrumentor stamps the active run's id on spans (no private SDK hook)."""
    script = tmp_path / "run_app.py"
    script.write_text(
        textwrap.dedent(
            """
        import mlflow
        from opentelemetry import trace

        mlflow.set_experiment("llmops-rag")
        with mlflow.start_run(run_name="my-training") as run:
            with trace.get_tracer("t").start_as_current_span("chat gpt-4") as span:
                span.set_attribute("gen_ai.request.model", "gpt-4")
                span.set_attribute("gen_ai.usage.input_tokens", 7)
        print("run:", run.info.run_id)
        """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    result = subprocess.run(
        [str(instrument), sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [run] = store.runs()  # the span went into the user's run: no run of its own
    assert "run: " + run.info.run_id in result.stdout
    assert run.info.run_name == "my-training"
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 7


def test_without_a_service_name_the_script_names_the_service(tmp_path: Path, store: Store) -> None:
    """Not the SDK's unknown_service:python3: zero-code, and in code (the helper API's own provider)."""
    result = run_instrumented(tmp_path, store, {"OTEL_SERVICE_NAME": ""})
    assert result.returncode == 0, result.stderr
    [run] = store.runs()
    assert run.data.tags["service.name"] == "app"  # app.py
    helper = tmp_path / "nightly_eval.py"
    helper.write_text("from otel_mlflow import log_llm_call\nlog_llm_call(model='m', prompt='p', response='r')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update({"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)})
    done = subprocess.run(
        [sys.executable, str(helper)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    names = {r.data.tags.get("service.name") for r in store.runs()}
    assert names == {"app", "nightly_eval"}
