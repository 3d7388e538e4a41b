"""Planted secrets never reach the store: the whole sqlite file, every artifact file and a server's stored
traces (through its API and on its disk) are searched for each one, for every way out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pytest
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from otel_mlflow import attributes as A
from otel_mlflow.config import ScrubSettings
from otel_mlflow.mapping.span_json import sanitized_span
from otel_mlflow.scrub import Scrubber
from otel_mlflow.testing import Capture
from tests.helpers import SpanRecorder, Store, mlflow_server
from tests.test_scrub import VALUE_FORMS

OPENAI_KEY = "sk-proj-PLANTEDabcdefghijklmnopqrstuvwxyz0123"
BEARER = "PLANTEDbearertoken0123456789"
API_KEY_HEADER = "PLANTED-api-key-header-value"
CUSTOM_HEADER = "PLANTED-custom-auth-header"
RESOURCE_TOKEN = "PLANTEDresourcetoken"
LINK_TOKEN = "PLANTEDlinktoken"
CUSTOM = "ACME-123456"  # matches the user's pattern ACME-\d{6}
PROMPT = "PLANTED prompt text that must not be stored when capture is off"
FORMS = "\n".join(form for form, _, _ in VALUE_FORMS)
SECRETS = (
    OPENAI_KEY,
    BEARER,
    API_KEY_HEADER,
    CUSTOM_HEADER,
    RESOURCE_TOKEN,
    LINK_TOKEN,
    CUSTOM,
    *(secret for _, secret, _ in VALUE_FORMS),
)
PATTERNS = (r"ACME-\d{6}",)
RESOURCE = {
    "auth.token": RESOURCE_TOKEN,
    "db.dsn": "postgresql://app:PLANTEDdsnpw@db/x",
    "deployment.note": f"key {OPENAI_KEY}",
}


def plant(recorder: SpanRecorder) -> list[Any]:
    """One request carrying every planted secret in every field a span has."""
    with recorder.tracer.start_as_current_span("warm-up") as other:
        other_context = other.get_span_context()
    recorder.take()
    link = Link(other_context, {"auth.token": LINK_TOKEN, "note": f"Bearer {BEARER}"})
    with recorder.tracer.start_as_current_span(f"POST /ask {CUSTOM}", kind=SpanKind.SERVER, links=[link]) as root:
        root.set_attribute("http.request.header.authorization", f"Bearer {BEARER}")
        root.set_attribute("http.request.header.api-key", API_KEY_HEADER)
        root.set_attribute("http.request.header.x-custom-auth", CUSTOM_HEADER)
        root.set_attribute(A.QUESTION, f"my key is {OPENAI_KEY}, order {CUSTOM}\n{FORMS}")
        root.set_attribute(A.ANSWER, FORMS)
        root.set_attribute(A.PARAM_PREFIX + "api_key", OPENAI_KEY)
        root.set_attribute(A.PARAM_PREFIX + "db_url", "postgresql://app:PLANTED@pg6@db:5432/x")
        root.set_attribute(A.METRIC_PREFIX + f"score {OPENAI_KEY}", 1.0)
        root.set_attribute(A.TAG_PREFIX + "note", f"token={BEARER} Bearer {BEARER}")
        root.set_attribute(A.TAG_PREFIX + "forms", FORMS)
        with recorder.tracer.start_as_current_span("chat gpt-4") as chat:
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4")
            chat.set_attribute(A.GEN_AI_PROMPT, f"{PROMPT} {OPENAI_KEY}\n{FORMS}")
            chat.set_attribute(A.GEN_AI_COMPLETION, f"customer {CUSTOM}")
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 3)
            chat.add_event("exception", {"exception.message": f"401 for Bearer {BEARER}\n{FORMS}"})
            chat.set_status(Status(StatusCode.ERROR, f"Incorrect API key provided: {OPENAI_KEY}\n{FORMS}"))
    return recorder.take()


def store_bytes(root: Path, databases: str = "mlflow.db*", artifacts: Path | None = None) -> bytes:
    """Everything a store holds: its database file(s) and every artifact file. Not the spool: it is the
    exporter's buffer of what it accepted (raw, in a 0700 folder, deleted once written; RELIABILITY.md)."""
    data = b"".join(p.read_bytes() for p in root.glob(databases))
    files = [p for p in (artifacts or root).rglob("*") if p.is_file() and not any("spool" in part for part in p.parts)]
    return data + b"".join(p.read_bytes() for p in files)


def assert_nowhere(everything: bytes) -> None:
    for secret in SECRETS:
        at = everything.find(secret.encode())
        assert at < 0, (secret, everything[max(0, at - 300) : at + 60])


@pytest.fixture
def hostile() -> SpanRecorder:
    return SpanRecorder(resource=RESOURCE)


@pytest.mark.parametrize("run_mode", ["trace", "window"])
def test_planted_secrets_are_nowhere_in_the_store(
    hostile: SpanRecorder, store: Store, make_exporter: Any, run_mode: str
) -> None:
    exporter = make_exporter(run_mode=run_mode, redact_patterns=PATTERNS)
    exporter.export(plant(hostile))
    exporter.shutdown()
    [run] = store.runs()
    everything = store_bytes(store.root, artifacts=store.artifacts)
    assert b"[redacted]" in everything  # the text around the secrets was kept
    assert_nowhere(everything)
    assert PROMPT.encode() in everything or run_mode == "window"  # capture is on: the prompt itself is kept
    if run_mode == "trace":
        assert run.data.params["api_key"] == "sk-proj-...[redacted]"
        assert run.data.params["db_url"] == "postgresql://app:[redacted]@db:5432/x"
        spans = json.loads(store.artifact_text(run, "spans.json"))
        root = next(s for s in spans if s["name"].startswith("POST"))
        assert root["attributes"]["http.request.header.x-custom-auth"] == "[redacted]"
        assert root["links"][0]["attributes"]["auth.token"] == "[redacted]"
        assert root["resource"]["auth.token"] == "[redacted]"
        chat = next(s for s in spans if s["name"] == "chat gpt-4")
        assert chat["status_description"].startswith("Incorrect API key provided: sk-proj-...[redacted]")


def test_capture_off_keeps_no_prompt_or_response_anywhere(
    hostile: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter(capture_content=False)
    exporter.export(plant(hostile))
    exporter.shutdown()
    [run] = store.runs()
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 3  # numbers still land
    everything = store_bytes(store.root, artifacts=store.artifacts)
    for text in (PROMPT, "customer", "my key is"):
        assert text.encode() not in everything, text


def test_spans_for_mlflow_traces_are_cleaned_in_every_field(hostile: SpanRecorder) -> None:
    scrub = Scrubber(ScrubSettings(patterns=PATTERNS))
    for span in plant(hostile):
        clean = sanitized_span(span, True, scrub)
        text = repr(
            (
                clean.name,
                dict(clean.attributes or {}),
                [(e.name, dict(e.attributes or {})) for e in clean.events],
                [dict(link.attributes or {}) for link in clean.links],
                clean.status.description,
                dict(clean.resource.attributes),
            )
        )
        for secret in SECRETS:
            assert secret not in text, secret


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("secrets-server")
    with mlflow_server(root) as url:
        yield url, root


@pytest.mark.server
@pytest.mark.parametrize("run_mode", ["trace", "window"])
def test_linked_traces_on_a_server_hold_no_secret(
    server: tuple[str, Path], hostile: SpanRecorder, make_exporter: Any, run_mode: str
) -> None:
    from mlflow import MlflowClient

    url, root = server
    experiment = f"secrets-{run_mode}"
    exporter = make_exporter(
        tracking_uri=url, experiment_name=experiment, run_mode=run_mode, link_traces=True, redact_patterns=PATTERNS
    )
    exporter.export(plant(hostile))
    exporter.shutdown()
    client = MlflowClient(tracking_uri=url)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    [run] = client.search_runs([experiment_id])
    traces = client.search_traces(locations=[experiment_id], run_id=run.info.run_id)
    assert len(traces) == 1  # the trace went out, linked: the check below reads what the server stored
    stored = json.dumps([t.to_dict() for t in traces]).encode() + json.dumps(run.to_dictionary()).encode()
    assert b"[redacted]" in stored
    assert_nowhere(stored)
    assert_nowhere(store_bytes(root, "server.db*", root / "server-artifacts"))


def test_training_run_name_params_and_tags_are_scrubbed(otel_mlflow_capture: Capture, tmp_path: Path) -> None:
    from otel_mlflow import log_training_run

    @log_training_run(
        run_name=f"train {OPENAI_KEY}",
        params={"openai_api_key": OPENAI_KEY, "k": 3},
        tags={"token": BEARER, "note": "password=LEAK9"},
    )
    def train() -> None:
        mlflow.log_metric("loss", 0.5)

    train()
    runs = otel_mlflow_capture.runs()
    seen = [(r.info.run_name, r.data.tags, r.data.metrics) for r in runs]
    # a CI run once found a second run in this store (not reproduced in 9 runs of the tier since): a copy of the
    # training run, or one its span made for want of it, fails here; anything else is shown if this fails
    named = [r for r in runs if r.info.run_name == "train sk-proj-...[redacted]"]
    assert len(named) == 1 and not [r for r in runs if A.TAG_MISSING_RUN in r.data.tags], seen
    [run] = named
    assert run.data.params == {"openai_api_key": "sk-proj-...[redacted]", "k": "3"}
    assert run.data.tags["token"] == "[redacted]" and run.data.tags["note"] == "password=[redacted]"
    everything = store_bytes(tmp_path, "**/mlflow.db*")
    assert b"[redacted]" in everything
    assert_nowhere(everything)
    assert b"LEAK9" not in everything


def test_helper_api_calls_are_scrubbed(otel_mlflow_capture: Capture, tmp_path: Path) -> None:
    from otel_mlflow import log_llm_call, log_prediction

    log_llm_call(model="gpt-4", prompt=f"key {OPENAI_KEY}", response=FORMS, tokens_used=5, api_key=OPENAI_KEY)
    log_prediction(question=FORMS, answer="ok", latency_ms=3.0, user_feedback=f"Bearer {BEARER}")
    assert len(otel_mlflow_capture.runs()) == 2
    everything = store_bytes(tmp_path, "**/mlflow.db*")
    assert b"[redacted]" in everything
    assert_nowhere(everything)
