"""The memory bound: what a span costs, whether more fits, when spilled spans may be read back.

Bounds: ``OTEL_MLFLOW_MAX_QUEUE_SIZE`` spans and ``OTEL_MLFLOW_MAX_QUEUE_BYTES`` estimated bytes. What is held
is added up by the ledger from its owners (trace buffer, trace jobs, windows' unwritten requests). Usage::

    bound = MemoryBound(config)
    size = span_bytes(span)
    if bound.fits(held, count=len(spans), size=total): ...
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import Config

Held = tuple[int, int]
"""(spans, estimated bytes)."""


class MemoryBound:
    def __init__(self, config: Config) -> None:
        self.max_spans = config.max_queue_size
        self.max_bytes = config.max_queue_bytes

    def fits(self, held: Held, count: int, size: int) -> bool:
        """``count`` more spans of ``size`` bytes stay within the bound."""
        return held[0] + count <= self.max_spans and held[1] + size <= self.max_bytes

    def room_to_read_back(self, held: Held, stuck: bool) -> bool:
        """Memory is at most half full; or nothing can progress without reading more (``stuck``: the held spans
        wait for roots that are on disk) and memory is under twice its bound."""
        if self.fits(held, self.max_spans // 2, self.max_bytes // 2):
            return True
        return stuck and self.may_read_back_later(held)

    def may_read_back_later(self, held: Held) -> bool:
        """Under twice the bound: spans on disk can still be read back (when nothing else can progress)."""
        return held[0] < 2 * self.max_spans and held[1] < 2 * self.max_bytes

    def room_bytes(self, spool_room: int | None, held: Held) -> int:
        """Bytes more the exporter takes before refusing: ``spool_room`` (disk) when there is a spool, else memory."""
        return max(0, spool_room) if spool_room is not None else max(0, self.max_bytes - held[1])


def span_bytes(span: ReadableSpan) -> int:
    """An estimate of the memory a finished span holds: every attribute value (arrays item by item),
    events and links with their attributes, plus a fixed overhead per object."""
    size = 400 + len(span.name or "") + _attrs_bytes(span.attributes)
    for event in span.events or ():
        size += 200 + len(event.name or "") + _attrs_bytes(event.attributes)
    for link in span.links or ():
        size += 150 + _attrs_bytes(link.attributes)
    return size


def _attrs_bytes(attributes: Any) -> int:
    return sum(60 + len(key) + _value_bytes(value) for key, value in (attributes or {}).items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, (str, bytes)):
        return 50 + len(value)
    if isinstance(value, (list, tuple)):
        return 56 + sum(8 + _value_bytes(item) for item in value)
    if isinstance(value, dict):
        return 64 + sum(60 + len(str(k)) + _value_bytes(v) for k, v in value.items())
    return 32
