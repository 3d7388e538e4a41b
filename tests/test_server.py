"""The REST path: the exporter writing to a real `mlflow server` subprocess on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config
from tests.helpers import SpanRecorder, mlflow_server
from tests.test_mapping import rag_trace

pytestmark = pytest.mark.server


def test_trace_is_written_through_the_rest_api(tmp_path: Path, recorder: SpanRecorder) -> None:
    from mlflow import MlflowClient

    with mlflow_server(tmp_path / "server") as url:
        exporter = MLflowSpanExporter(config=Config.from_env(env={}, tracking_uri=url, flush_interval=0.05))
        try:
            rag_trace(recorder)
            exporter.export(recorder.take())
            assert exporter.force_flush(60_000)
        finally:
            exporter.shutdown()
        client = MlflowClient(tracking_uri=url)
        experiment = client.get_experiment_by_name("llmops-rag")
        [run] = client.search_runs([experiment.experiment_id])
        assert run.info.run_name == "POST /ask"
        assert run.data.params["model"] == "gpt-4"
        assert run.data.metrics["gen_ai.usage.input_tokens"] == 12
        assert run.data.metrics["gen_ai.usage.output_tokens"] == 34
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"prompt.txt", "response.txt", "spans.json"} <= artifacts
        local = client.download_artifacts(run.info.run_id, "prompt.txt", str(tmp_path))
        assert Path(local).read_text() == "user: What is RAG?"
