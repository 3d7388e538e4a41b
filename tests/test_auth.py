"""MLflow's own authentication: the exporter writes to a server started with `--app-name basic-auth`
using MLFLOW_TRACKING_USERNAME/PASSWORD, and links traces with the same credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config
from otel_mlflow.testing import mlflow_server
from tests.helpers import SpanRecorder
from tests.test_mapping import rag_trace

pytestmark = pytest.mark.server
ADMIN_PASSWORD = "test-admin-password-1"


def test_basic_auth_server(tmp_path: Path, recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("flask_wtf", reason="the dev extra installs Flask-WTF for MLflow's basic-auth app")
    from mlflow import MlflowClient

    server_env = {"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only"}
    with mlflow_server(tmp_path / "server", extra_args=["--app-name", "basic-auth"], env=server_env) as url:
        anonymous = MLflowSpanExporter(
            config=Config.from_env(env={}, tracking_uri=url, flush_interval=0.05, run_mode="trace", retry_timeout=5)
        )
        rag_trace(recorder)
        anonymous.export(recorder.take())
        anonymous.shutdown()
        assert anonymous.stats.spans_dropped_write_failed == 2  # 401: refused, counted, not retried forever

        credentials = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD}
        for name, value in credentials.items():  # MLflow's own client reads them from the process's environment
            monkeypatch.setenv(name, value)
        exporter = MLflowSpanExporter(
            config=Config.from_env(
                env=credentials, tracking_uri=url, flush_interval=0.05, run_mode="trace", link_traces=True
            )
        )
        rag_trace(recorder)
        exporter.export(recorder.take())
        assert exporter.force_flush(60_000)
        exporter.shutdown()
        client = MlflowClient(tracking_uri=url)
        [run] = client.search_runs([client.get_experiment_by_name("llmops-rag").experiment_id])
        assert run.data.params["model"] == "gpt-4"
        assert len(client.search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)) == 1
