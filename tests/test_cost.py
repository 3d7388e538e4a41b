"""cost_usd: known, unknown and overridden prices, per trace run and per window."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.config import ConfigError
from otel_mlflow.export.mlflow.prices import price_source
from otel_mlflow.export.pending.windows import WindowSet
from otel_mlflow.mapping.request_record import request_record
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.mapping.window import window_plan
from tests.helpers import SpanRecorder, Store


def calls(recorder: SpanRecorder, *models: str) -> list[Any]:
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        for model in models:
            with recorder.tracer.start_as_current_span(f"chat {model}") as chat:
                chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
                chat.set_attribute(A.GEN_AI_REQUEST_MODEL, model)
                chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 1000)
                chat.set_attribute(A.GEN_AI_USAGE_OUTPUT_TOKENS, 1000)
    return recorder.take()


def cost(spans: list[Any], prices: Any) -> float | None:
    metrics = {m.key: m.value for m in plan_run(spans, MappingOptions(prices=prices)).metrics}
    return metrics.get(A.METRIC_COST)


def test_mlflow_bundled_prices_and_unknown_models(recorder: SpanRecorder, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    reached: list[Any] = []

    def no_network(host: Any, *args: Any, **kwargs: Any) -> Any:
        reached.append(host)  # MLflow swallows a failed fetch: record it rather than raise
        raise socket.gaierror("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)  # MLflow fetches its remote catalog given a provider
    prices = price_source(None)
    assert prices is not None and prices("gpt-4o-mini", "openai", 1000, 1000, None, None) == pytest.approx(
        (0.00015, 0.0006)
    )
    assert reached == []
    assert cost(calls(recorder, "gpt-4o-mini"), prices) == pytest.approx(0.00015 + 0.0006)
    assert cost(calls(recorder, "gpt-4o-mini", "gpt-4o-mini"), prices) == pytest.approx(2 * 0.00075)
    assert cost(calls(recorder, "demo-llm"), prices) is None  # no price: no cost, not a wrong one
    assert cost(calls(recorder, "gpt-4o-mini", "demo-llm"), prices) is None  # one unknown call: unknown in all
    assert cost(calls(recorder, "gpt-4o-mini"), price_source("off")) is None


def test_the_users_prices_win_and_a_bad_file_is_a_clear_error(recorder: SpanRecorder, tmp_path: Path) -> None:
    own = tmp_path / "prices.json"
    own.write_text(json.dumps({"demo-llm": {"input": 1.0, "output": 2.0}, "gpt-4o-mini": {"input": 0, "output": 0}}))
    prices = price_source(str(own))
    assert cost(calls(recorder, "demo-llm"), prices) == pytest.approx(0.001 + 0.002)
    assert cost(calls(recorder, "gpt-4o-mini"), prices) == 0
    for text, needle in (
        ("not json", "cannot read it as JSON"),
        ('{"m": {"input": -1, "output": 1}}', "'m' needs"),
        ("[1, 2]", "a JSON object of models"),
        ('{"m": {"input": Infinity, "output": 1}}', "Infinity is not a price"),  # issue 26, item 12
        ('{"m": {"input": 1e400, "output": 1}}', "'m' needs"),
        ('{"m": {"input": true, "output": 1}}', "'m' needs"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),
        (" " * (2 << 20), "more than 1,048,576"),
    ):
        own.write_text(text)
        with pytest.raises(ConfigError, match=f"OTEL_MLFLOW_PRICES={own}.*{needle}"):
            price_source(str(own))


def test_a_prices_file_that_is_no_regular_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Issue 26, item 12: a FIFO hung the exporter's constructor; /dev/zero read until MemoryError."""
    fifo = tmp_path / "prices.fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero", str(tmp_path)):
        with pytest.raises(ConfigError, match=f"OTEL_MLFLOW_PRICES={path}: it is not a regular file"):
            price_source(path)


def test_window_cost_per_request_and_total(recorder: SpanRecorder) -> None:
    prices = price_source(None)
    windows = WindowSet(seconds=60, max_requests=10)
    for models in (("gpt-4o-mini",), ("gpt-4o-mini", "gpt-4o-mini")):
        windows.add(request_record(calls(recorder, *models), prices=prices), now=0)
    [window] = windows.all()
    windows.close_expired(now=61)
    plan, _ = window_plan(window, MappingOptions(prices=prices))
    steps = sorted((m.step, m.value) for m in plan.metrics if m.key == A.METRIC_COST)
    assert steps == [(0, pytest.approx(0.00075)), (1, pytest.approx(0.0015))]
    assert {m.key: m.value for m in plan.metrics}[A.METRIC_COST_TOTAL] == pytest.approx(0.00225)


def test_a_trace_run_in_sqlite_has_its_cost(recorder: SpanRecorder, store: Store, make_exporter: Any) -> None:
    exporter = make_exporter()
    exporter.export(calls(recorder, "gpt-4"))
    assert exporter.force_flush(20_000)
    [run] = store.runs()
    assert run.data.metrics["cost_usd"] == pytest.approx(0.03 + 0.06)  # gpt-4: $30 / $60 per million
