"""compose.yaml, collector-config.yaml, deploy/k8s and the Dockerfile parse and agree with each other.
No Docker engine or cluster runs here: these tests check the files, not the containers."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from otel_mlflow.config.receiver import DEFAULT_GRPC_PORT, DEFAULT_PORT
from otel_mlflow.serve.receiver import TRACES_PATH

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"


def load(path: Path | str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / path).read_text()))


def k8s_docs() -> list[dict[str, Any]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def k8s(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} defined {len(found)} times"
    return found[0]


COLLECTOR = load("collector-config.yaml")
COMPOSE = load("compose.yaml")


def service_for(host: str) -> dict[str, Any]:
    """The one compose service that answers ``host`` (its name or a network alias)."""
    services = COMPOSE["services"]
    names = {n: {n, *s.get("networks", {}).get("default", {}).get("aliases", [])} for n, s in services.items()}
    matches = [services[n] for n, hosts in names.items() if host in hosts]
    assert len(matches) == 1, f"no single compose service answers {host}"
    return matches[0]


ENDPOINTS = {
    "receiver": COLLECTOR["exporters"]["otlphttp/otel-mlflow"]["endpoint"],
    "mlflow": COMPOSE["services"]["otel-mlflow-receiver"]["environment"]["MLFLOW_TRACKING_URI"],
}


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return str(parts.hostname), int(parts.port or 80)


def container_env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def test_collector_pipeline_is_complete() -> None:
    pipeline = COLLECTOR["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        for name in pipeline[kind]:
            assert name in COLLECTOR[kind], f"{kind} {name} used but not defined"
    assert pipeline["processors"][0] == "memory_limiter"
    assert pipeline["processors"][-1] == "batch"


def test_traces_reach_mlflow_only_through_the_receiver_which_links_them() -> None:
    """No Collector exporter sends the app's raw spans to MLflow: the receiver scrubs and links them."""
    assert host_port(ENDPOINTS["receiver"])[1] == DEFAULT_PORT  # otlphttp appends /v1/traces
    assert TRACES_PATH == "/v1/traces"
    assert list(COLLECTOR["exporters"]) == ["otlphttp/otel-mlflow"]
    assert COLLECTOR["service"]["pipelines"]["traces"]["exporters"] == ["otlphttp/otel-mlflow"]
    assert COLLECTOR["exporters"]["otlphttp/otel-mlflow"]["compression"] == "gzip"
    assert "mlflow-service" not in (ROOT / "collector-config.yaml").read_text()
    assert COMPOSE["services"]["otel-mlflow-receiver"]["environment"]["OTEL_MLFLOW_LINK_TRACES"] == "true"
    receiver = k8s("StatefulSet", "otel-mlflow-receiver")["spec"]["template"]["spec"]["containers"][0]
    assert container_env(receiver)["OTEL_MLFLOW_LINK_TRACES"]["value"] == "true"


def collector_env_vars() -> set[str]:
    return set(re.findall(r"\$\{env:([A-Z_]+)\}", (ROOT / "collector-config.yaml").read_text()))


def test_compose_services_answer_the_collectors_endpoints() -> None:
    receiver_host, receiver_port = host_port(ENDPOINTS["receiver"])
    receiver = service_for(receiver_host)
    assert receiver["command"][receiver["command"].index("--port") + 1] == str(receiver_port)
    assert "--host" in receiver["command"] and "0.0.0.0" in receiver["command"]
    mlflow_host, mlflow_port = host_port(ENDPOINTS["mlflow"])
    mlflow = service_for(mlflow_host)
    assert f"--port={mlflow_port}" in mlflow["command"]
    allowed = next(a for a in mlflow["command"] if a.startswith("--allowed-hosts="))
    assert f"{mlflow_host}:{mlflow_port}" in allowed.split("=", 1)[1].split(",")
    assert receiver["environment"]["MLFLOW_TRACKING_URI"] == f"http://{mlflow_host}:{mlflow_port}"


def test_compose_collector_mounts_the_config_and_has_its_env() -> None:
    collector = COMPOSE["services"]["otel-collector"]
    mount = next(v for v in collector["volumes"] if v.startswith("./collector-config.yaml:"))
    assert f"--config={mount.split(':')[1]}" in collector["command"]
    assert collector_env_vars() <= set(collector["environment"])
    grpc, http = (
        int(COLLECTOR["receivers"]["otlp"]["protocols"][p]["endpoint"].rsplit(":", 1)[1]) for p in ("grpc", "http")
    )
    assert {f"127.0.0.1:{grpc}:{grpc}", f"127.0.0.1:{http}:{http}"} <= set(collector["ports"])
    app = COMPOSE["services"]["rag-app"]
    assert app["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{http}"


def test_compose_binds_loopback_and_holds_no_secrets() -> None:
    for name, service in COMPOSE["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name}: {port}"
        env = service.get("environment", {})
        for key, value in env.items() if isinstance(env, dict) else []:
            if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET")):
                assert str(value).startswith("${"), f"{name}.{key} must come from .env, not the file"
    for key in ("POSTGRES_PASSWORD", "OTEL_MLFLOW_RECEIVER_TOKEN"):
        assert re.search(rf"^{key}=", (ROOT / ".env.example").read_text(), re.M), key


def test_k8s_services_answer_the_collectors_endpoints() -> None:
    for doc in k8s_docs():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "llmops", doc["metadata"]["name"]
    receiver_host, receiver_port = host_port(ENDPOINTS["receiver"])
    service = k8s("Service", receiver_host)
    assert service["spec"]["ports"][0]["port"] == receiver_port
    deployment = k8s("StatefulSet", receiver_host)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"][0]["containerPort"] == service["spec"]["ports"][0]["targetPort"]
    assert container["command"][container["command"].index("--port") + 1] == str(receiver_port)
    mlflow_host, mlflow_port = host_port(ENDPOINTS["mlflow"])
    assert mlflow_host == "mlflow-service"  # the old guide's `kubectl port-forward svc/mlflow-service`
    assert k8s("Service", mlflow_host)["spec"]["ports"][0]["port"] == mlflow_port
    assert container_env(container)["MLFLOW_TRACKING_URI"]["value"] == f"http://{mlflow_host}:{mlflow_port}"
    mlflow_args = k8s("Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert f"--port {mlflow_port}" in mlflow_args and f"{mlflow_host}:{mlflow_port}" in mlflow_args


def test_k8s_collector_loads_the_same_config_file() -> None:
    deployment = k8s("Deployment", "otel-collector")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_arg = next(a for a in container["args"] if a.startswith("--config="))
    mount = next(m for m in container["volumeMounts"] if config_arg.split("=", 1)[1].startswith(m["mountPath"]))
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    key = config_arg.split("=", 1)[1][len(mount["mountPath"]) :].lstrip("/")
    deploy = (K8S / "deploy.sh").read_text()
    assert f"create configmap {volume['configMap']['name']}" in deploy
    assert f"--from-file={key}=../../collector-config.yaml" in deploy
    assert collector_env_vars() <= set(container_env(container))
    ports = {p["port"] for p in k8s("Service", "otel-collector")["spec"]["ports"]}
    assert ports == {4317, 4318}


def test_k8s_secrets_are_never_literal_and_images_are_built_by_deploy_sh() -> None:
    deploy = (K8S / "deploy.sh").read_text()
    for doc in k8s_docs():
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for name, env in container_env(container).items():
                if any(word in name for word in ("PASSWORD", "TOKEN", "SECRET")):
                    assert "valueFrom" in env, f"{doc['metadata']['name']}: {name} must come from a Secret"
            image = container["image"]
            if image.startswith("otel-mlflow/"):
                assert f"docker build -t {image} " in deploy, image
    assert "kind: Secret" not in "".join(p.read_text() for p in K8S.glob("*.yaml"))


def test_dockerfile_installs_the_package_the_way_the_readme_says() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    run = next(line for line in dockerfile.splitlines() if line.startswith("RUN pip install"))
    spec = [a for a in shlex.split(run[len("RUN ") :]) if not a.startswith("--")][-1]
    assert spec == ".[otlp]"
    assert f'pip install "{spec}"' in (ROOT / "README.md").read_text()
    assert 'CMD ["otel-mlflow", "receive"]' in dockerfile


@pytest.mark.parametrize("script", ["deploy.sh", "deploy-mlflow.sh"])
def test_deploy_scripts_use_namespace_llmops(script: str) -> None:
    text = (K8S / script).read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "kubectl port-forward svc/mlflow-service 5000:5000" in text
    assert "NAMESPACE=llmops" in (K8S / "common.sh").read_text()


def test_the_receiver_keeps_its_spool_on_a_volume_in_compose_and_kubernetes() -> None:
    """Acknowledged spans wait in the spool: in a container it must outlive a restart."""
    receiver_host, _ = host_port(ENDPOINTS["receiver"])
    service = service_for(receiver_host)
    spool = service["environment"]["OTEL_MLFLOW_SPOOL_DIR"]
    volume = next(v for v in service["volumes"] if v.endswith(f":{spool}"))
    assert volume.split(":", 1)[0] in COMPOSE["volumes"]  # a named volume, not the container's layer
    receiver = k8s("StatefulSet", receiver_host)["spec"]
    container = receiver["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == env["OTEL_MLFLOW_SPOOL_DIR"])
    # a claim per replica, which outlives the pod (an emptyDir would die with it)
    assert [c["metadata"]["name"] for c in receiver["volumeClaimTemplates"]] == [mount["name"]]
    assert not receiver["template"]["spec"].get("volumes")
    # the grace period covers SIGTERM's 20 s of writing plus the HTTP server's 5 s graceful stop
    from otel_mlflow.config.settings import SIGTERM_EXIT_SECONDS

    assert receiver["template"]["spec"]["terminationGracePeriodSeconds"] >= SIGTERM_EXIT_SECONDS + 10


def test_the_receivers_grpc_port_agrees_everywhere() -> None:
    """OTLP/gRPC (4320 by default, beside a Collector's 4317): compose, k8s and the image name the same port."""
    compose = COMPOSE["services"]["otel-mlflow-receiver"]["command"]
    assert compose[compose.index("--grpc-port") + 1] == str(DEFAULT_GRPC_PORT)
    container = k8s("StatefulSet", "otel-mlflow-receiver")["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][container["command"].index("--grpc-port") + 1] == str(DEFAULT_GRPC_PORT)
    assert {"containerPort": DEFAULT_GRPC_PORT, "name": "otlp-grpc"} in container["ports"]
    ports = {p["name"]: p for p in k8s("Service", "otel-mlflow-receiver")["spec"]["ports"]}
    assert ports["otlp-grpc"]["port"] == ports["otlp-grpc"]["targetPort"] == DEFAULT_GRPC_PORT
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"OTEL_MLFLOW_RECEIVER_GRPC_PORT={DEFAULT_GRPC_PORT}" in dockerfile
    assert re.search(rf"^EXPOSE .*\b{DEFAULT_GRPC_PORT}\b", dockerfile, re.M)


SCHEMAS = Path(__file__).resolve().parent / "schemas"
KUBERNETES_VERSION = "1.34"


def test_k8s_manifests_are_valid_against_the_official_schemas() -> None:
    """kubernetes-validate ships Kubernetes' OpenAPI-derived schemas: checked offline, strictly (no unknown fields)."""
    import kubernetes_validate

    docs = k8s_docs()
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "StatefulSet", "Service", "PersistentVolumeClaim"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    broken = {**k8s("StatefulSet", "otel-mlflow-receiver"), "spec": {"replicas": "two"}}  # the check can fail
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    """tests/schemas/compose-spec.json: schema/compose-spec.json of github.com/compose-spec/compose-spec
    (commit a08f8d51631b7127ddac3d2c65537db429d0f1d0, 2025-10-28), vendored: no download at test time."""
    import json

    import jsonschema

    validator = jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text()))  # its $schema
    validator.validate(COMPOSE)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({**COMPOSE, "services": {"x": {"imagee": "typo"}}})  # the check can fail


COLLECTOR_COMPONENTS = {
    # the type collector-config.yaml names -> the Go module that provides it in the contrib distribution
    "receivers": {"otlp": "go.opentelemetry.io/collector/receiver/otlpreceiver"},
    "processors": {
        "memory_limiter": "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
        "batch": "go.opentelemetry.io/collector/processor/batchprocessor",
        "attributes": "github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor",
    },
    "exporters": {
        "otlphttp": "go.opentelemetry.io/collector/exporter/otlphttpexporter",
        "otlp": "go.opentelemetry.io/collector/exporter/otlpexporter",
        "loadbalancing": "github.com/open-telemetry/opentelemetry-collector-contrib/exporter/loadbalancingexporter",
    },
    "extensions": {
        "health_check": "github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension",
    },
}


@pytest.mark.parametrize("config_file", ["collector-config.yaml", "deploy/collector-gateway-config.yaml"])
def test_collector_config_uses_only_components_of_the_pinned_contrib_release(config_file: str) -> None:
    """No collector binary of the contrib distribution can be fetched here: its release manifest (the component list
    the distribution is built from, distributions/otelcol-contrib/manifest.yaml of opentelemetry-collector-releases
    at the tag compose.yaml pins) is vendored, and every component the config names must be in it."""
    image = COMPOSE["services"]["otel-collector"]["image"]
    version = image.rsplit(":", 1)[1]
    manifest = yaml.safe_load((SCHEMAS / f"otelcol-contrib-{version}-manifest.yaml").read_text())
    built = {kind: {m["gomod"].split()[0] for m in manifest[kind]} for kind in COLLECTOR_COMPONENTS}
    config = load(config_file)
    for kind, known in COLLECTOR_COMPONENTS.items():
        assert set(known.values()) <= built[kind], kind
        for name in config.get(kind, {}):
            component = name.split("/", 1)[0]  # "otlphttp/otel-mlflow" is an otlphttp exporter
            assert component in known, f"{kind}: {component} is not a component this test knows in {image}"
    pipeline = config["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(pipeline[kind]) <= set(config[kind]), kind
    assert config["service"]["extensions"] == ["health_check"]
    endpoint = config["extensions"]["health_check"]["endpoint"]
    probe = k8s("Deployment", "otel-collector")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert probe["httpGet"]["port"] == int(endpoint.rsplit(":", 1)[1])


def test_the_gateway_routes_each_service_to_one_receiver_replica() -> None:
    """Several receivers: the gateway's loadbalancing exporter sends a service's spans to one replica (its windows
    exact), over OTLP/gRPC, to the pods of the StatefulSet's headless Service."""
    exporter = load("deploy/collector-gateway-config.yaml")["exporters"]["loadbalancing/otel-mlflow"]
    assert exporter["routing_key"] == "service"
    resolver = exporter["resolver"]["k8s"]
    name, namespace = resolver["service"].split(".")
    headless = k8s("Service", name)
    assert headless["spec"]["clusterIP"] == "None" and namespace == headless["metadata"]["namespace"]
    assert k8s("StatefulSet", "otel-mlflow-receiver")["spec"]["serviceName"] == name
    assert resolver["ports"] == [DEFAULT_GRPC_PORT] and DEFAULT_GRPC_PORT in {
        p["port"] for p in headless["spec"]["ports"]
    }
    assert exporter["protocol"]["otlp"]["headers"]["authorization"] == "Bearer ${env:OTEL_MLFLOW_RECEIVER_TOKEN}"
