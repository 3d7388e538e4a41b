"""A tiny RAG-style job with hand-made GenAI spans; `examples/demo.py` runs it zero-code."""

from __future__ import annotations

import json
import time

from opentelemetry import trace

QUESTIONS = {
    "What is RAG?": "Retrieval-Augmented Generation: retrieve documents, then generate an answer from them.",
    "What does MLflow track?": "Runs, with their params, metrics, tags and artifacts.",
    "What is a span?": "One timed operation in a trace, with attributes.",
}

tracer = trace.get_tracer("otel-mlflow-demo")

for question, answer in QUESTIONS.items():
    with tracer.start_as_current_span("answer-question", kind=trace.SpanKind.SERVER) as root:
        root.set_attribute("otel_mlflow.question", question)
        with tracer.start_as_current_span("retrieve") as retrieve:
            retrieve.set_attribute("gen_ai.retrieval.documents", json.dumps([{"content": answer}]))
        with tracer.start_as_current_span("chat demo-llm", kind=trace.SpanKind.CLIENT) as chat:
            time.sleep(0.01)
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "demo")
            chat.set_attribute("gen_ai.request.model", "demo-llm")
            chat.set_attribute("gen_ai.request.temperature", 0.0)
            chat.set_attribute("gen_ai.usage.input_tokens", len(question.split()) + len(answer.split()))
            chat.set_attribute("gen_ai.usage.output_tokens", len(answer.split()))
            chat.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": question}]}]),
            )
            chat.set_attribute(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": answer}]}]),
            )
        root.set_attribute("otel_mlflow.answer", answer)
    print(f"Q: {question}\nA: {answer}")
