"""Prompt registry versions: a request that used prompts:/rag-answer/2 is its own configuration (window runs split by
the version), its run's param and MLflow's prompt link, and its trace is linked to the version: all read back through
MLflow's own API (list_logged_prompts, search_traces by prompt) from a real sqlite store."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import otel_mlflow
from otel_mlflow import attributes as A
from otel_mlflow.mapping.prompt_refs import linked_prompts, prompt_uris
from tests.helpers import SpanRecorder, Store


def _register(store: Store) -> list[Any]:
    client = store.client()
    return [client.register_prompt("rag-answer", f"Answer {{{{question}}}} from context, style {n}") for n in (1, 2)]


def _requests(recorder: SpanRecorder, exporter: Any, prompts: list[Any], n: int = 6) -> None:
    for i in range(n):
        with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER) as root:
            root.set_attribute(A.QUESTION, f"question {i}")
            with recorder.tracer.start_as_current_span("generate_answer", kind=SpanKind.CLIENT) as call:
                call.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o-mini")
                assert otel_mlflow.use_prompt(prompts[i % 2]) == f"prompts:/rag-answer/{i % 2 + 1}"
        exporter.export(recorder.take())


def test_window_runs_split_by_prompt_version_and_link_runs_and_traces(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    prompts = _register(store)
    exporter = make_exporter(run_mode="window", window_seconds=3600, steps="request", traces="all")
    _requests(recorder, exporter, prompts)
    exporter.shutdown()
    client = store.client()
    runs = {r.data.params["prompt"]: r for r in store.runs()}
    assert sorted(runs) == ["prompts:/rag-answer/1", "prompts:/rag-answer/2"]  # two configurations
    for version in (1, 2):
        run = runs[f"prompts:/rag-answer/{version}"]
        [linked] = client.list_logged_prompts(run.info.run_id)  # MLflow's reading of the run's prompt link
        assert (linked.name, int(linked.version)) == ("rag-answer", version)
        experiment = run.info.experiment_id
        traces = client.search_traces(locations=[experiment], filter_string=f'prompt = "rag-answer/{version}"')
        assert len(traces) == 3 and all(t.info.tags[A.MLFLOW_LINKED_PROMPTS] for t in traces)


def test_a_per_trace_run_gets_the_param_and_an_unregistered_version_is_told_once(
    recorder: SpanRecorder, store: Store, make_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    exporter = make_exporter(traces="all")
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            otel_mlflow.log_llm_call(model="gpt-4o", prompt="hi", response="hello", prompt_uri="prompts:/missing/7")
            with recorder.tracer.start_as_current_span("chat", kind=SpanKind.CLIENT) as chat:
                chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "gpt-4o")
                otel_mlflow.use_prompt("prompts:/missing/7")
            exporter.export(recorder.take())
        assert exporter.force_flush(20_000)
    runs = store.runs()
    assert runs and all(r.data.params["prompt"] == "prompts:/missing/7" for r in runs)
    assert json.loads(runs[0].data.tags[A.MLFLOW_LINKED_PROMPTS]) == [{"name": "missing", "version": "7"}]
    told = [r for r in caplog.records if "prompts:/missing/7 is not in MLflow's prompt registry" in r.getMessage()]
    assert len(told) == 1


def test_prompt_references_are_read_from_ours_and_mlflows_keys_and_bad_ones_refused() -> None:
    assert prompt_uris({A.PROMPT_URI: ["prompts:/b/2", "prompts:/a/1", "prompts:/a/1"]}) == (
        "prompts:/a/1",
        "prompts:/b/2",
    )
    assert prompt_uris({A.MLFLOW_LINKED_PROMPTS: '[{"name": "qa", "version": "4"}]'}) == ("prompts:/qa/4",)
    assert prompt_uris({A.PROMPT_URI: "prompts:/qa@production", A.MLFLOW_LINKED_PROMPTS: "not json"}) == ()
    assert (
        linked_prompts("prompts:/qa/4,prompts:/b/1")
        == '[{"name": "qa", "version": "4"}, {"name": "b", "version": "1"}]'
    )
    for bad in ("prompts:/qa@production", "rag-answer", 3):
        with pytest.raises(ValueError, match="load it first, then pass what load_prompt gives"):
            otel_mlflow.use_prompt(bad)


def test_the_mlflow_calls_the_prompt_links_depend_on_still_exist(store: Store) -> None:
    """otel_mlflow/export/mlflow/prompts.py links through the client's own store (MLflow's link functions use the
    global tracking store). When this fails, MLflow moved them: update that module."""
    link = store.client()._tracking_client.store.link_prompts_to_trace
    assert list(inspect.signature(link).parameters) == ["trace_id", "prompt_versions"]


def test_a_version_registered_after_a_miss_is_linked_once_the_miss_expires(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A miss is remembered (one registry read per version a period, not per request), but not for good: a version
    registered while the app runs is linked from then on. And any client may name any version: the cache is bounded."""
    import time

    from otel_mlflow.export.mlflow import prompts

    monkeypatch.setattr(prompts, "VERSION_CACHE_SECONDS", 0.5)
    links, client = prompts.PromptLinks(), store.client()
    run_id = client.create_run(client.create_experiment("prompts")).info.run_id
    links.link_run(client, run_id, "prompts:/late/1")
    client.register_prompt("late", "Answer {{question}}")
    links.link_run(client, run_id, "prompts:/late/1")
    assert client.list_logged_prompts(run_id) == []  # the miss is still remembered
    time.sleep(0.6)
    links.link_run(client, run_id, "prompts:/late/1")
    [linked] = client.list_logged_prompts(run_id)
    assert (linked.name, int(linked.version)) == ("late", 1)
    for n in range(prompts.VERSION_CACHE_SIZE + 50):
        links.link_run(client, run_id, f"prompts:/spam/{n + 1}")
    assert len(links._versions) <= prompts.VERSION_CACHE_SIZE
