"""The benchmark's baselines stay honest: what bench/ compares against does the same work as ours."""

from __future__ import annotations

import json
import sys
import types

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from bench import onthread
from instrumentors.llm_service import LLMServiceInstrumentor


def _parsed(attributes: object) -> dict[str, object]:
    return {key: json.loads(value) if key.endswith(".messages") else value for key, value in dict(attributes).items()}


def test_the_hand_written_span_sets_what_the_instrumented_call_sets() -> None:
    """The on-thread row's 'same attrs by hand' baseline: same span name, kind and attributes (keys and values,
    message JSON compared parsed) as the instrumented ``generate_answer``."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    module = types.ModuleType("bench_test_llm_service")
    module.generate_answer = onthread.generate_answer  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    instrumentor = LLMServiceInstrumentor()
    instrumentor.instrument(functions=[f"{module.__name__}:generate_answer"], tracer_provider=provider)
    try:
        assert module.generate_answer(onthread.QUESTION, onthread.CONTEXT) == onthread.hand_made_call(
            provider.get_tracer("bench")
        )
    finally:
        instrumentor.uninstrument()
        del sys.modules[module.__name__]
    ours, hand = exporter.get_finished_spans()
    assert (ours.name, ours.kind) == (hand.name, hand.kind)
    assert _parsed(ours.attributes) == _parsed(hand.attributes)
    assert len(ours.attributes) == 10
