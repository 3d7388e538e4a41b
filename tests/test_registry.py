"""Model registry helpers against a real sqlite store, with a really logged model."""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import pytest

from otel_mlflow import ModelNotFoundError, get_latest_model, register_model, transition_model_to_stage
from otel_mlflow.testing import Capture


class EchoModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    def predict(self, context: object, model_input: list[str], params: dict | None = None) -> list[str]:  # type: ignore[type-arg]
        return model_input


def logged_model_uri() -> str:
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=EchoModel())
    return str(info.model_uri)


def test_register_promote_and_get_back(otel_mlflow_capture: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("otel_mlflow.registry._warned", False)
    uri = logged_model_uri()
    versions = [register_model(uri, "rag-model", description=f"build {i}", tags={"k": "5"}) for i in (1, 2, 3)]
    assert [str(v.version) for v in versions] == ["1", "2", "3"]
    assert versions[2].description == "build 3"
    with pytest.warns(DeprecationWarning, match="aliases"):
        transition_model_to_stage("rag-model", 3, "Production")
    serving = get_latest_model("rag-model", stage="Production")
    assert str(serving.version) == "3"
    assert str(get_latest_model("rag-model", alias="production").version) == "3"
    assert str(get_latest_model("rag-model").version) == "3"
    client = mlflow.MlflowClient()
    assert str(client.get_model_version_by_alias("rag-model", "production").version) == "3"
    loaded = mlflow.pyfunc.load_model("models:/rag-model@production")
    assert list(loaded.predict(["hello"])) == ["hello"]


def test_stage_without_alias_falls_back_to_registry_stage(otel_mlflow_capture: Capture) -> None:
    uri = logged_model_uri()
    register_model(uri, "staged")
    register_model(uri, "staged")
    client = mlflow.MlflowClient()
    with pytest.warns(FutureWarning):  # MLflow's own deprecation of stages
        client.transition_model_version_stage("staged", "1", "Staging")
    assert str(get_latest_model("staged", stage="staging").version) == "1"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # warned once per process: order-independent here
def test_missing_things_are_clear_errors(otel_mlflow_capture: Capture) -> None:
    with pytest.raises(ModelNotFoundError, match="no registered model named 'ghost'"):
        get_latest_model("ghost")
    register_model(logged_model_uri(), "real")
    with pytest.raises(ModelNotFoundError, match="has no version 7"):
        transition_model_to_stage("real", 7, "Production")
    with pytest.raises(ModelNotFoundError, match="no version in stage 'Production'"):
        get_latest_model("real", stage="Production")
    with pytest.raises(ModelNotFoundError, match="no alias @champion"):
        get_latest_model("real", alias="champion")
    with pytest.raises(ValueError, match="not one of"):
        transition_model_to_stage("real", 1, "Prod")
