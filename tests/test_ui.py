"""What MLflow's UI shows of what we write, read off the rendered pages in headless Chromium (Debian's chromium,
installed by `make test`; Playwright drives it through its own driver, never its browser download).

The example app runs briefly into a sqlite store, a real `mlflow server` serves that store, and the test reads
the runs table, a window run's predictions table, the Overview (usage, and quality from the users' feedback),
the Traces view with its feedback column, the Sessions view, and a comparison run of `otel-mlflow compare`.
Screenshots are kept in test-artifacts/ui/ (OTEL_MLFLOW_TEST_ARTIFACTS to move them)."""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from otel_mlflow.mapping.experiment_tags import runs_view_query
from otel_mlflow.testing import mlflow_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo

pytestmark = [pytest.mark.subprocess, pytest.mark.server]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTIONS = [
    {"question": "What is RAG?", "k": 2, "session_id": "ui-session-1"},
    {"question": "What does MLflow record for each run?", "k": 2, "session_id": "ui-session-1"},
    {"question": "What is a span in OpenTelemetry?", "k": 1, "session_id": "ui-session-2"},
]


def screenshots() -> Path:
    checkout = Path(__file__).resolve().parents[1]
    folder = Path(os.environ.get("OTEL_MLFLOW_TEST_ARTIFACTS", checkout / "test-artifacts")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_ui_shows_run_names_the_predictions_table_and_traces_with_their_input(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Chromium is missing: `make test` installs Debian's chromium package"
    root = tmp_path / "server"
    root.mkdir()
    uri = f"sqlite:///{root / 'server.db'}"
    env = demo.demo_env()
    env.update({"MLFLOW_TRACKING_URI": uri, "MLFLOW_ARTIFACT_PATH": str(tmp_path / "artifacts")})
    answers = demo.run_app(
        env, QUESTIONS, tmp_path / "app.log", feedback={0: ("helpful", "grounded"), 2: ("wrong", None)}
    )
    assert [status for status, _ in answers] == [200, 200, 200]
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("llmops-rag")
    runs = {r.data.params["k"]: r for r in client.search_runs([experiment.experiment_id])}
    shots = screenshots()
    with mlflow_server(root) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            base = f"{url}/#/experiments/{experiment.experiment_id}"

            page.goto(f"{base}/runs{runs_view_query(experiment.tags)}")  # the URL the demo prints
            for k in ("1", "2"):
                expect_text(page, runs[k].info.run_name)  # "rag-api k=2 model=demo-llm 2026-..."
            assert runs["1"].info.run_name != runs["2"].info.run_name
            dismiss_hint(page)
            # our shared view: the configuration and the window's figures as columns (by default: names only)
            header = page.locator(".ag-header")
            for column in ("k", "model", "request_count", "error_rate", "latency_ms.p95", "tokens.total"):
                header.get_by_text(column, exact=True).first.wait_for(state="visible", timeout=30_000)
            p95 = page.locator('.ag-row[row-index="0"] [col-id="metrics.`latency_ms.p95`"]').inner_text()
            assert float(p95) > 0, p95
            page.screenshot(path=str(shots / "runs.png"))

            page.goto(f"{base}/runs/{runs['2'].info.run_id}/artifacts/predictions.json")
            expect_text(page, "What does MLflow record for each run?")  # a row of the predictions table
            expect_text(page, "What is RAG?")
            dismiss_hint(page)
            page.screenshot(path=str(shots / "predictions.png"))

            page.goto(f"{base}/overview/usage")  # the experiment's first screen in MLflow 3: no longer empty
            body = expect_pattern(page, r"Token Usage\s+\d+ \(\d+ input, \d+ output\)")  # once its data loaded
            assert re.search(r"Traces\s+3\s", body) and "Overall error rate: 0" in body, body[:1500]
            dismiss_hint(page)
            page.screenshot(path=str(shots / "overview.png"))

            page.goto(f"{base}/overview/quality")  # feedback assessments, counted by value
            expect_text(page, "user_feedback")
            expect_text(page, '"wrong"')
            dismiss_hint(page)
            page.screenshot(path=str(shots / "quality.png"))

            page.goto(f"{base}/traces")
            expect_text(page, '{"question": "What is a span in OpenTelemetry?"}')  # the Input column
            expect_text(page, '"MLflow tracks experiments as runs."')  # the Output column
            expect_text(page, "helpful")  # the user_feedback column: the assessment of POST /feedback
            dismiss_hint(page)
            page.screenshot(path=str(shots / "traces.png"))

            # Sessions (3.17.2 moved the view into Traces: "Group traces by session"), from session.id on the spans
            dismiss_hint(page)
            page.locator('button[aria-label="Group traces by session"]').click()
            expect_text(page, "ui-session-1")
            expect_text(page, "ui-session-2")
            page.screenshot(path=str(shots / "sessions.png"))

            # a comparison run (otel-mlflow compare): its verdicts as the description, MLflow's compare/ metrics
            from otel_mlflow.compare import compare_configurations

            report = compare_configurations("llmops-rag", by=["k"], baseline="2", tracking_uri=uri)
            [(candidate, run_id)] = report.log(client).items()
            page.goto(f"{base}/runs/{run_id}")
            expect_text(page, f"compare {candidate} vs k=2")
            expect_text(page, "too little traffic")  # 1 request against 2: the description's verdicts
            dismiss_hint(page)
            expect_text(page, "compare/k_2/error_rate/diff")  # (1 request on k=1: too few for a latency median)
            page.screenshot(path=str(shots / "comparison.png"))
        finally:
            browser.close()


def expect_text(page: Any, text: str) -> None:
    """Wait (up to 30 s: the UI loads its data after the page) until ``text`` is shown."""
    page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=30_000)


def expect_pattern(page: Any, pattern: str, timeout: float = 30.0) -> str:
    """Wait until the page's text matches ``pattern`` (the figures load after the headings); returns the text."""
    deadline = time.monotonic() + timeout
    while True:
        body = str(page.inner_text("body"))
        if re.search(pattern, body) or time.monotonic() > deadline:
            assert re.search(pattern, body), body[:2000]
            return body
        time.sleep(0.5)


def dismiss_hint(page: Any) -> None:
    """Close MLflow's first-visit hint ("Detect Issues in Your Traces") that covers the tool bar, and its
    Assistant panel, which takes a third of the screenshots' width."""
    if page.get_by_role("button", name="Got it").count():
        page.get_by_role("button", name="Got it").click()
    close = page.locator('button[aria-label="Close"]')  # the Assistant's; closed, it stays closed on other pages
    if close.count() and close.first.is_visible():
        close.first.click()
