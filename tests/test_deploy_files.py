"""compose.yaml and collector-config.yaml parse and agree with each other (no Docker runs here)."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load(name: str) -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((ROOT / name).read_text()))


def test_collector_pipeline_is_complete() -> None:
    config = load("collector-config.yaml")
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in pipeline[kind]:
            assert name in config[kind], f"{kind} {name} used but not defined"
    assert pipeline["processors"][0] == "memory_limiter"  # must come first
    assert pipeline["processors"][-1] == "batch"


def test_collector_exports_to_mlflow_traces_with_experiment_header() -> None:
    exporter = load("collector-config.yaml")["exporters"]["otlphttp/mlflow-traces"]
    assert exporter["traces_endpoint"].endswith(":5000/v1/traces")
    assert "x-mlflow-experiment-id" in exporter["headers"]


def test_compose_mounts_the_collector_config_and_binds_loopback() -> None:
    compose = load("compose.yaml")
    collector = compose["services"]["otel-collector"]
    mount = next(v for v in collector["volumes"] if v.startswith("./collector-config.yaml:"))
    assert mount.split(":")[1] in " ".join(collector["command"])
    for service in compose["services"].values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    mlflow_host = load("collector-config.yaml")["exporters"]["otlphttp/mlflow-traces"]["traces_endpoint"]
    assert "//mlflow:" in mlflow_host and "mlflow" in compose["services"]


def test_collector_exports_to_the_receivers_default_port_and_path() -> None:
    from otel_mlflow.receiver import DEFAULT_PORT, TRACES_PATH

    exporter = load("collector-config.yaml")["exporters"]["otlphttp/otel-mlflow"]
    # otlphttp appends /v1/traces to `endpoint`, which is the receiver's path
    assert exporter["endpoint"].endswith(f":{DEFAULT_PORT}")
    assert TRACES_PATH == "/v1/traces"
    assert exporter.get("compression") == "gzip"  # the receiver accepts gzip
