"""A silent model change, seen when a window closes. Pure.

Providers answer with a dated snapshot of the model asked for (``gpt-4o-mini`` -> ``gpt-4o-mini-2024-07-18``):
that is no change. A change is an answering model that is not the one asked for nor a snapshot of it
(``gpt-4o`` answered by ``gpt-4o-mini``), or answering models that differ from the last closed window of the same
configuration (the snapshot behind an alias moved). Either gives the tag ``otel_mlflow.model_changed`` and one
warning (the plan's ``notices``, told once the write has landed)::

    model_entries(builder, asked="gpt-4o", records=window.records, previous=("gpt-4o-2024-08-06",))
"""

from __future__ import annotations

from collections.abc import Sequence

from otel_mlflow import attributes as A
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.run_plan import PlanBuilder


def model_entries(
    builder: PlanBuilder, asked: str | None, records: Sequence[RequestRecord], previous: Sequence[str]
) -> None:
    answered = sorted({m for r in records for m in r.response_models})
    if not answered:
        return
    builder.tag(A.GEN_AI_RESPONSE_MODEL, ", ".join(answered))
    changes = []
    others = [m for m in answered if asked and not is_snapshot_of(m, asked)]
    if others:
        changes.append(f"asked {asked}, answered {', '.join(others)}")
    if previous and tuple(answered) != tuple(previous):
        changes.append(f"{', '.join(previous)} -> {', '.join(answered)}")
    if changes:
        builder.tag(A.TAG_MODEL_CHANGED, "; ".join(changes))
        builder.plan.notices.extend(f"model changed: {change}" for change in changes)


def is_snapshot_of(answered: str, asked: str) -> bool:
    """``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``; so is ``openai/gpt-4o-mini`` asked as ``gpt-4o-mini``.
    ``gpt-4o-mini`` is not ``gpt-4o``: after the asked name only a date-like suffix (digits and dashes) may come."""
    name, want = answered.rsplit("/", 1)[-1].lower(), asked.rsplit("/", 1)[-1].lower()
    if name == want:
        return True
    rest = name[len(want) :] if name.startswith(want) else ""
    return bool(rest) and rest[0] in "-@" and all(ch.isdigit() or ch in "-@." for ch in rest[1:])
