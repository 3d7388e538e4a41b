"""The interop matrix: real SDKs nobody here wrote, each in its own environment as a user's app would be (`make
interop`: pinned in tests/interop/), call a local OpenAI-compatible server through the real `openai` client (or
the Vercel AI SDK's provider) and send their spans as OTLP/HTTP to `otel-mlflow receive`. Each run must hold the
model, the tokens, the question in `prompt.txt` and the answer in `response.txt`; with content capture off, none of
the planted text may be anywhere in the store (database and artifacts). The `@mlflow.trace` app of the matrix is
tests/test_mlflow_convention.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fake_openai import ANSWER
from tests.helpers import Store

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / ".interop"
APP = ROOT / "tests" / "interop" / "openai_app.py"
VERCEL = ROOT / "tests" / "interop" / "vercel"
PLANTED = ("QUESTION-PLANTED-TEXT", "SYSTEM-PLANTED-TEXT", "ANSWER-PLANTED-TEXT")
SDKS = ("official", "openinference", "traceloop", "logfire", "openlit", "vercel_ai")
"""Versions: tests/interop/requirements-*.txt and tests/interop/vercel/package.json (README, "Conventions")."""

pytestmark = pytest.mark.subprocess


def _command(sdk: str) -> list[str]:
    if sdk == "vercel_ai":
        assert (VERCEL / "node_modules" / "ai").is_dir(), "the Vercel AI SDK is not installed: run `make interop`"
        return ["node", str(VERCEL / "app.mjs")]
    if sdk == "official":
        return [sys.executable, str(APP), sdk]
    python = INTEROP / sdk / "bin" / "python"
    assert python.exists(), f"{sdk} is not installed: run `make interop` (builds {python.parent.parent})"
    return [str(python), str(APP), sdk]


def _run_app(sdk: str, server: str, receiver_url: str, tmp_path: Path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "OPENAI_BASE_URL": f"{server}/v1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # the SDKs' own switch: on, so that they send the text and what lands is decided by the receiver
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY" if sdk == "official" else "true",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
    }
    done = subprocess.run(_command(sdk), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ANSWER in done.stdout


@pytest.mark.parametrize("sdk", SDKS)
def test_each_sdk_lands_model_tokens_question_and_answer(
    sdk: str, chat_server: str, store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver()
    _run_app(sdk, chat_server, receiver.url, tmp_path)
    assert receiver.exporter.force_flush(30_000)
    [run] = store.runs()
    assert run.data.params["model"] == "gpt-4o-mini", run.data.params
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 19
    assert run.data.metrics["gen_ai.usage.output_tokens"] == 7
    assert run.data.metrics["llm_calls"] == 1
    prompt, response = store.artifact_text(run, "prompt.txt"), store.artifact_text(run, "response.txt")
    assert "QUESTION-PLANTED-TEXT" in prompt and "SYSTEM-PLANTED-TEXT" in prompt, prompt
    assert response == ANSWER or response == f"assistant: {ANSWER}", response
    assert "QUESTION-PLANTED-TEXT" in (run.info.run_name or "") or sdk != "vercel_ai"


@pytest.mark.parametrize("sdk", SDKS)
def test_with_capture_off_nothing_of_the_text_is_stored(
    sdk: str, chat_server: str, store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver(capture_content=False)
    _run_app(sdk, chat_server, receiver.url, tmp_path)
    assert receiver.exporter.force_flush(30_000)
    [run] = store.runs()
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 19  # the numbers stay
    files = [*store.root.glob("mlflow.db*"), *(p for p in store.artifacts.rglob("*") if p.is_file())]
    assert any(p.name == "spans.json" for p in files)  # the store: its database and artifacts
    for path in files:
        data = path.read_bytes()
        for planted in PLANTED:
            assert planted.encode() not in data, f"{planted} in {path.relative_to(store.root)} ({sdk})"
