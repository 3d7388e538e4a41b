"""Manual instrumentation, end to end: the decorator, the context manager and the exporter in code.

python examples/manual/app.py      # writes three runs to ./mlflow.db (or MLFLOW_TRACKING_URI)
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mlflow import MLflowSpanExporter, llm_span, trace_llm
from otel_mlflow.config import DEFAULT_TRACKING_URI, is_server_uri

exporter = MLflowSpanExporter()
provider = TracerProvider(resource=Resource.create({"service.name": "manual-example"}))
provider.add_span_processor(BatchSpanProcessor(exporter))
trace.set_tracer_provider(provider)


@trace_llm(model="demo-llm", provider="demo")
def generate_answer(question: str, context: str) -> dict:
    answer = context.split(".")[0] + "."
    return {
        "answer": answer,
        "usage": {
            "prompt_tokens": len(question.split()) + len(context.split()),
            "completion_tokens": len(answer.split()),
        },
    }


def main() -> None:
    context = "Spans are timed operations. Traces are trees of spans."
    print(generate_answer("What is a span?", context)["answer"])
    print(generate_answer("What is a trace?", context)["answer"])
    with llm_span(question="Say hi", model="demo-llm", provider="demo") as call:
        call.set_response("hi")  # a plain string: tokens are estimated and marked as estimated
    provider.shutdown()  # flushes the processor and waits until MLflow has every run
    uri = os.environ.get("MLFLOW_TRACKING_URI", DEFAULT_TRACKING_URI)
    where = uri if is_server_uri(uri) else f"mlflow ui --backend-store-uri {uri}"
    print(f"{exporter.stats.runs_created} runs written to {uri}; open them with: {where}")


if __name__ == "__main__":
    main()
