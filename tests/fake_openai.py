"""A local server that answers like OpenAI's chat-completions API (one fixed completion: 19 tokens in, 7 out), for
the tests that drive the real `openai` client or another SDK's provider against it; and a judge model for MLflow's
LLM judges (``mlflow.genai.evaluate``), which answers every judge prompt "yes" with a rationale.

    def test_x(chat_server: str): ...   # its base URL, without /v1
    def test_y(judge_server: str): ...  # OPENAI_API_BASE is set to it: model "openai:/gpt-4o-mini" reaches it
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

ANSWER = "ANSWER-PLANTED-TEXT grounds answers in retrieved documents."
COMPLETION = {
    "id": "chatcmpl-local-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 19, "completion_tokens": 7, "total_tokens": 26},
}


JUDGE_RATIONALE = "The local judge finds the answer grounded."


class ChatCompletions(BaseHTTPRequestHandler):
    requests: list[dict[str, Any]] = []
    completion: dict[str, Any] = COMPLETION

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        type(self).requests.append(json.loads(self.rfile.read(length) or b"{}"))
        body = json.dumps(self.completion).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class JudgeCompletions(ChatCompletions):
    requests: list[dict[str, Any]] = []
    verdict = json.dumps({"result": "yes", "rationale": JUDGE_RATIONALE})
    completion = {
        **COMPLETION,
        "choices": [{**COMPLETION["choices"][0], "message": {"role": "assistant", "content": verdict}}],
    }


def _serve(handler: type[ChatCompletions]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def chat_server() -> Iterator[str]:
    yield from _serve(ChatCompletions)


@pytest.fixture
def judge_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    JudgeCompletions.requests = []
    for server in _serve(JudgeCompletions):
        monkeypatch.setenv("OPENAI_API_BASE", f"{server}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-local-judge")
        yield server
