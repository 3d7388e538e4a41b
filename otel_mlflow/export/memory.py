"""The exporter's memory bound: what is held, whether more fits, when spilled spans may be read back.

Plain functions over the ledger's parts (the ledger holds the lock). Bounds: ``OTEL_MLFLOW_MAX_QUEUE_SIZE``
spans and ``OTEL_MLFLOW_MAX_QUEUE_BYTES`` estimated bytes.
"""

from __future__ import annotations

from otel_mlflow.config import Config
from otel_mlflow.export.jobqueue import JobQueue
from otel_mlflow.export.spool import SpoolFile
from otel_mlflow.export.trace_buffer import TraceBuffer
from otel_mlflow.mapping.window import WindowSet

Held = tuple[int, int]
"""(spans, estimated bytes)."""


def held(buffer: TraceBuffer, jobs: JobQueue, windows: WindowSet) -> Held:
    """Spans and bytes in memory: buffered, in trace jobs, and in windows' requests not yet written."""
    spans, held_bytes = jobs.held()
    for window in windows.all():
        for record in window.records[window.synced :]:
            spans += record.span_count
            held_bytes += record.held_bytes()
    return len(buffer) + spans, buffer.bytes + held_bytes


def fits(config: Config, now_held: Held, count: int, size: int) -> bool:
    """``count`` more spans of ``size`` bytes stay within the bound."""
    spans, held_bytes = now_held
    return spans + count <= config.max_queue_size and held_bytes + size <= config.max_queue_bytes


def room_to_read_back(config: Config, now_held: Held, stuck: bool) -> bool:
    """Memory is at most half full; or nothing can progress without reading more (``stuck``: the held spans
    wait for roots that are on disk) and memory is under twice its bound."""
    if fits(config, now_held, config.max_queue_size // 2, config.max_queue_bytes // 2):
        return True
    return stuck and now_held[0] < 2 * config.max_queue_size and now_held[1] < 2 * config.max_queue_bytes


def room_bytes(config: Config, spool: SpoolFile | None, now_held: Held) -> int:
    """Bytes more the exporter takes before refusing: spool disk, or memory without a spool."""
    if spool is not None:
        return max(0, config.spool_max_bytes - spool.bytes)
    return max(0, config.max_queue_bytes - now_held[1])
