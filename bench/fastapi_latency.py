"""A FastAPI request's latency: no instrumentation, the official FastAPI instrumentation alone, and
otel-mlflow (official spans + request capture + LLM-service span + MLflowSpanExporter), in process."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.onthread import DropExporter, generate_answer
from bench.persist import prepare_experiment
from instrumentors.fastapi import FastAPIRequestInstrumentor
from instrumentors.llm_service import LLMServiceInstrumentor
from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import DEFAULT_EXPERIMENT_NAME, CaptureOptions, Config

CAPTURE = CaptureOptions(param_fields=("k",))  # as the example app runs: question, k and answer


class Ask(BaseModel):
    question: str
    k: int = 2


def make_app(service: Any) -> FastAPI:
    app = FastAPI()

    @app.post("/ask")
    def ask(body: Ask) -> dict[str, str]:
        return {"question": body.question, "answer": service.generate_answer(body.question, "context")["answer"]}

    return app


async def _requests(app: FastAPI, count: int) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for _ in range(50):
            await client.post("/ask", json={"question": "What is RAG?", "k": 2})
        started = time.perf_counter()
        for _ in range(count):
            await client.post("/ask", json={"question": "What is RAG?", "k": 2})
        return (time.perf_counter() - started) / count * 1e6


NAMES = ("none", "official", "capture", "otel_mlflow_instrumentation", "otel_mlflow", "otel_mlflow_process")


def request_us(count: int, rounds: int = 3, names: tuple[str, ...] = NAMES) -> dict[str, float]:
    """Median µs per request of each set-up over ``rounds`` interleaved rounds, in this process:
    none; official (server spans, dropping exporter); capture (official spans + our request capture, what
    ``FastAPIRequestInstrumentor`` adds, dropping exporter); ours with the LLM-service span too, dropping
    exporter (the instrumentation's whole cost); ours with MLflowSpanExporter (its writer thread shares the GIL);
    the same with ``OTEL_MLFLOW_WRITER=process`` (the app only spools)."""
    service = types.ModuleType("bench_fastapi_service")
    service.generate_answer = generate_answer  # type: ignore[attr-defined]
    sys.modules[service.__name__] = service
    samples: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name in names:
            samples.setdefault(name, []).append(_one(name, service, count))
    return {name: statistics.median(values) for name, values in samples.items()}


def _one(name: str, service: Any, count: int) -> float:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    app = make_app(service)
    if name == "none":
        return asyncio.run(_requests(app, count))
    provider = TracerProvider()
    exporter: Any = DropExporter()
    if name in ("otel_mlflow", "otel_mlflow_process"):
        store = Path(tempfile.mkdtemp(prefix="bench-fastapi-"))
        uri = f"sqlite:///{store / 'mlflow.db'}"
        prepare_experiment(uri, DEFAULT_EXPERIMENT_NAME, str(store / "a"))
        writer = "process" if name == "otel_mlflow_process" else "thread"
        exporter = MLflowSpanExporter(
            config=Config.from_env(env={}, tracking_uri=uri, artifact_location=str(store / "a"), writer=writer)
        )
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=count * 8))
    llm = LLMServiceInstrumentor()
    with_llm_span = name.startswith("otel_mlflow")
    if name == "official":
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    else:
        if with_llm_span:
            llm.instrument(functions=["bench_fastapi_service:generate_answer"], tracer_provider=provider)
        FastAPIRequestInstrumentor.instrument_app(app, capture_options=CAPTURE, tracer_provider=provider)
    try:
        return asyncio.run(_requests(app, count))
    finally:
        if with_llm_span:
            llm.uninstrument()
        provider.shutdown()
