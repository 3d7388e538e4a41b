"""Objectives checked when a window closes (OTEL_MLFLOW_SLO): met and breached windows through a real sqlite store,
the figures they were judged on, one warning per breach, and settings that are not objectives refused by name."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from otel_mlflow.config import Config, ConfigError
from otel_mlflow.config.objectives import parse_objectives
from otel_mlflow.mapping.model_change import is_snapshot_of
from otel_mlflow.mapping.slo import check
from tests.helpers import SpanRecorder, Store
from tests.test_window import request


def _window(recorder: SpanRecorder, store: Store, make_exporter: Any, slo: str, latencies: list[float]) -> Any:
    exporter = make_exporter(run_mode="window", window_seconds=3600, steps="request", slo=tuple(slo.split(",")))
    for i, latency in enumerate(latencies):
        exporter.export(request(recorder, i, latency, fail=(i == 9)))
    exporter.shutdown()  # closes the window: its closing write checks the objectives
    [run] = store.runs()
    return run


def test_a_breached_window_is_tagged_with_what_it_breached_and_warned_once(
    recorder: SpanRecorder, store: Store, make_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    latencies = [float(100 * (i + 1)) for i in range(10)]  # p95 = 1,000 ms; 1 error in 10
    with caplog.at_level(logging.WARNING):
        run = _window(
            recorder,
            store,
            make_exporter,
            "latency_ms.p95<800,error_rate<0.2,time_to_first_chunk_ms.p95<300",
            latencies,
        )
    assert run.data.tags["otel_mlflow.slo"] == "breached"
    assert run.data.tags["otel_mlflow.slo.breached"] == "latency_ms.p95<800 (1000)"
    assert run.data.metrics["slo.latency_ms.p95.ok"] == 0 and run.data.metrics["slo.error_rate.ok"] == 1
    assert "slo.time_to_first_chunk_ms.p95.ok" not in run.data.metrics  # nothing streamed: not judged on it
    breaches = [r for r in caplog.records if "breached" in r.getMessage()]
    assert len(breaches) == 1 and run.info.run_id in breaches[0].getMessage()


def test_a_window_that_holds_its_objectives_is_tagged_met(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    run = _window(recorder, store, make_exporter, "latency_ms.p95<=1000,request_count>=10", [100.0] * 10)
    assert run.data.tags["otel_mlflow.slo"] == "met" and "otel_mlflow.slo.breached" not in run.data.tags
    assert run.data.metrics["slo.latency_ms.p95.ok"] == 1 and run.data.metrics["slo.request_count.ok"] == 1


def test_objectives_on_one_metric_hold_only_together() -> None:
    results = check(parse_objectives("latency_ms.p95>10, latency_ms.p95 < 800"), {"latency_ms.p95": 900.0})
    assert [(r.objective.text, r.ok) for r in results] == [("latency_ms.p95>10", True), ("latency_ms.p95<800", False)]


@pytest.mark.parametrize("bad", ["latency_ms.p95 ~ 800", "error_rate<", "<0.2", "p95<fast", "x<nan"])
def test_a_setting_that_is_not_an_objective_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"OTEL_MLFLOW_SLO: .* is not <metric><op><number>"):
        Config.from_env(env={"OTEL_MLFLOW_SLO": bad})


class Webhook(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []
    answers: list[int] = []

    def do_POST(self) -> None:
        Webhook.bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
        self.send_response(Webhook.answers.pop(0) if Webhook.answers else 200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_breach_is_posted_to_the_webhook_retried_after_a_500_and_without_secrets(
    recorder: SpanRecorder, store: Store, make_exporter: Any
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Webhook.bodies, Webhook.answers = [], [500]  # the first attempt fails: the sender retries
    secret = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
    try:
        exporter = make_exporter(
            run_mode="window",
            window_seconds=3600,
            slo=("latency_ms.p95<50",),
            alert_webhook=f"http://127.0.0.1:{server.server_address[1]}/hooks/slo",
        )
        for i in range(5):
            exporter.export(request(recorder, i, 100.0, k=secret))  # type: ignore[arg-type]
        exporter.shutdown()  # closes the window; the writer flushes its alerts
        [run] = store.runs()
        assert len(Webhook.bodies) == 2 and Webhook.bodies[0] == Webhook.bodies[1]  # one alert, sent twice
        alert = Webhook.bodies[1]
        assert alert["event"] == "otel_mlflow.slo.breached" and alert["service"] == "test-service"
        assert alert["breaches"] == ["latency_ms.p95<50 (100)"]
        assert alert["figures"]["latency_ms.p95"] == 100 and alert["figures"]["request_count"] == 5
        assert alert["run_id"] == run.info.run_id and alert["run_url"] is None  # a database store has no URL
        assert alert["configuration"]["model"] == "gpt-4" and secret not in json.dumps(alert)
        assert alert["window"]["end_ms"] > alert["window"]["start_ms"]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("answered", "asked", "same"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", True),
        ("openai/gpt-4o-mini", "gpt-4o-mini", True),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet", True),
        ("gpt-4o-mini", "gpt-4o", False),
        ("gpt-4o-2024-08-06", "gpt-4o-mini", False),
        ("llama3.1:8b", "llama3.1:70b", False),
    ],
)
def test_a_dated_snapshot_is_the_model_asked_for_another_model_is_not(answered: str, asked: str, same: bool) -> None:
    assert is_snapshot_of(answered, asked) is same


def test_a_silent_model_change_is_tagged_and_warned(
    recorder: SpanRecorder, store: Store, make_exporter: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Three windows of one configuration (3 requests each): the first answered by gpt-4-0613 (no change: a snapshot
    of gpt-4), the second by gpt-4-1106 (the snapshot behind the alias moved), the third by gpt-4o (another model)."""
    exporter = make_exporter(run_mode="window", window_seconds=3600, window_max_requests=3)
    answers = ["gpt-4-0613"] * 3 + ["gpt-4-1106"] * 3 + ["gpt-4o"] * 3
    with caplog.at_level(logging.WARNING):
        for i, answered in enumerate(answers):
            exporter.export(request(recorder, i, 100.0, response_model=answered))
        exporter.shutdown()
    first, second, third = store.runs()
    assert (
        first.data.tags["gen_ai.response.model"] == "gpt-4-0613" and "otel_mlflow.model_changed" not in first.data.tags
    )
    assert second.data.tags["otel_mlflow.model_changed"] == "gpt-4-0613 -> gpt-4-1106"
    assert third.data.tags["otel_mlflow.model_changed"] == "asked gpt-4, answered gpt-4o; gpt-4-1106 -> gpt-4o"
    assert len([r for r in caplog.records if "model changed" in r.getMessage()]) == 3
