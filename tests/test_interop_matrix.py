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
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
SDKS: dict[str, tuple[str, dict[str, str]]] = {
    "official": ("official", {CAPTURE: "SPAN_ONLY"}),
    "official_event_only": ("official", {CAPTURE: "EVENT_ONLY"}),  # the messages as a log record, to /v1/logs
    "official_upload": (  # the messages in files (fsspec), only their refs on the span: OTEL_MLFLOW_MESSAGE_REFS
        "official",
        {
            CAPTURE: "NO_CONTENT",
            "OTEL_INSTRUMENTATION_GENAI_COMPLETION_HOOK": "upload",
            "OTEL_INSTRUMENTATION_GENAI_UPLOAD_BASE_PATH": "{uploads}",
        },
    ),
    "openinference": ("openinference", {}),
    "traceloop": ("traceloop", {}),
    "logfire": ("logfire", {}),
    "openlit": ("openlit", {}),
    "vercel_ai": ("vercel_ai", {}),
}
"""Each case: the app's SDK and its own settings. Versions: tests/interop/requirements-*.txt and
tests/interop/vercel/package.json (README, "Conventions")."""

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


def _run_app(case: str, server: str, receiver_url: str, tmp_path: Path) -> None:
    sdk, settings = SDKS[case]
    (tmp_path / "uploads").mkdir()  # the upload hook's fsspec writes into a folder that exists
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "OPENAI_BASE_URL": f"{server}/v1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        # the SDKs' own switch: on, so that they send the text and what lands is decided by the receiver
        CAPTURE: "true",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        **{key: value.format(uploads=tmp_path / "uploads") for key, value in settings.items()},
    }
    done = subprocess.run(_command(sdk), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert ANSWER in done.stdout


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_each_sdk_lands_model_tokens_question_and_answer(
    sdk: str, chat_server: str, store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver(message_refs=(str(tmp_path / "uploads"),))
    _run_app(sdk, chat_server, receiver.url, tmp_path)
    assert receiver.exporter.force_flush(30_000)
    [run] = store.runs()
    assert run.data.params["model"] == "gpt-4o-mini", run.data.params
    assert run.data.metrics["gen_ai.usage.input_tokens"] == 19
    assert run.data.metrics["gen_ai.usage.output_tokens"] == 7
    assert run.data.metrics["llm_calls"] == 1
    if sdk == "official_event_only":  # the text came as a log record, joined to its span
        assert receiver.stats["accepted_log_records"] == 1 and receiver.exporter.stats.log_events_joined == 1
    if sdk == "official_upload":  # the text came from the files the span refers to
        assert receiver.exporter.stats.message_refs_read == 2
        assert run.data.tags["gen_ai.input.messages_ref"].startswith(f"file://{tmp_path}/uploads/")
    prompt, response = store.artifact_text(run, "prompt.txt"), store.artifact_text(run, "response.txt")
    assert "QUESTION-PLANTED-TEXT" in prompt and "SYSTEM-PLANTED-TEXT" in prompt, prompt
    assert response == ANSWER or response == f"assistant: {ANSWER}", response
    assert "QUESTION-PLANTED-TEXT" in (run.info.run_name or "") or sdk != "vercel_ai"


@pytest.mark.parametrize("sdk", sorted(SDKS))
def test_with_capture_off_nothing_of_the_text_is_stored(
    sdk: str, chat_server: str, store: Store, start_receiver: Any, tmp_path: Path
) -> None:
    receiver = start_receiver(capture_content=False, message_refs=(str(tmp_path / "uploads"),))
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
