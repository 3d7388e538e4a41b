"""What a request's LLM calls cost, in US dollars, from their token counts and a price source. Pure.

A price source is a function ``(model, provider, input_tokens, output_tokens, cache_read, cache_creation)`` that
returns ``(input_cost, output_cost)`` in USD, or None for a model it does not know
(:mod:`otel_mlflow.export.mlflow.prices` makes one from MLflow's bundled price table and the user's file). A call whose
model is unknown makes the whole request's cost unknown: no cost is better than a wrong one.

Usage::

    cost_usd(llm_call_facts, prices)     # float, or None
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otel_mlflow import attributes as A
from otel_mlflow.mapping.span_facts import SpanFacts

PriceSource = Callable[[str, "str | None", float, float, "float | None", "float | None"], "tuple[float, float] | None"]


def cost_usd(calls: Sequence[SpanFacts], prices: PriceSource | None) -> float | None:
    """The cost of ``calls`` (their facts), or None when there are no prices, no tokens, or an unknown model."""
    if prices is None:
        return None
    total, priced = 0.0, False
    for call in calls:
        if not call.input_tokens and not call.output_tokens:
            continue
        if not call.model:
            return None
        try:
            costs = prices(
                call.model,
                call.provider,
                call.input_tokens or 0,
                call.output_tokens or 0,
                call.detail_tokens.get(A.GEN_AI_USAGE_CACHE_READ),
                call.detail_tokens.get(A.GEN_AI_USAGE_CACHE_CREATION),
            )
        except Exception:  # noqa: BLE001 - a price source's error is an unknown price, never a failed mapping
            return None
        if costs is None:
            return None
        total, priced = total + sum(costs), True
    return round(total, 10) if priced else None
