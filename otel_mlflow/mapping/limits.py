"""Pure functions that make any key or value fit MLflow's write limits (:mod:`otel_mlflow.mlflow_limits`).

Usage::

    from otel_mlflow.mapping.limits import sanitize_key, chunk_batch

    sanitize_key("gen_ai.usage.input_tokens")  # unchanged
    sanitize_key("prompt (v2)?")               # "prompt _v2__"
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_mlflow.mlflow_limits import (  # noqa: F401 - the limits, re-exported beside the functions that fit them
    MAX_BATCH_REQUEST_BYTES,
    MAX_ENTITIES_PER_BATCH,
    MAX_KEY_CHARS,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE_CHARS,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VALUE_CHARS,
    is_valid_key,
)

_INVALID_CHAR = re.compile(r"[^/\w.\- :]")


def sanitize_key(key: str) -> str:
    """Return a key MLflow accepts, changing as little as possible, the same way every time.

    Invalid characters become ``_``; empty, ``.`` and ``..`` path segments are dropped; a key
    longer than 250 chars is cut and ends with a short hash of the original, so that two long
    keys that differ only at the end stay distinct.
    """
    if is_valid_key(key):
        return key
    cleaned = _INVALID_CHAR.sub("_", key)
    segments = [s for s in cleaned.split("/") if s not in ("", ".", "..")]
    cleaned = "/".join(segments) or "_"
    if cleaned.startswith("."):
        cleaned = "_" + cleaned
    if len(cleaned) > MAX_KEY_CHARS:
        digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cleaned = cleaned[: MAX_KEY_CHARS - 11].rstrip("/") + "-" + digest
    if not is_valid_key(cleaned):  # pragma: no cover - defensive: the steps above always fit
        cleaned = "key-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()
    return cleaned


def clean_text(value: str) -> str:
    """Replace lone surrogates (invalid UTF-8) so the text can be stored and encoded."""
    return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogate(value) else value


def _has_surrogate(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite real number (bools excluded), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass
class Batch:
    """One ``log_batch`` call's worth of writes, within every MLflow limit."""

    metrics: list[tuple[str, float, int, int]] = field(default_factory=list)
    """(key, value, timestamp_ms, step)"""
    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


def chunk_batch(
    metrics: Sequence[tuple[str, float, int, int]],
    params: Sequence[tuple[str, str]],
    tags: Sequence[tuple[str, str]],
) -> Iterator[Batch]:
    """Split writes into batches that respect MLflow's per-batch counts and request size."""
    batch, size = Batch(), 0
    for kind, item in _items(metrics, params, tags):
        item_size = len(json.dumps(item, ensure_ascii=False)) + 40
        if _full(batch, kind, size + item_size):
            yield batch
            batch, size = Batch(), 0
        getattr(batch, kind).append(item)
        size += item_size
    if len(batch):
        yield batch


def _items(
    metrics: Sequence[tuple[str, float, int, int]],
    params: Sequence[tuple[str, str]],
    tags: Sequence[tuple[str, str]],
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    for p in params:
        yield "params", p
    for t in tags:
        yield "tags", t
    for m in metrics:
        yield "metrics", m


def _full(batch: Batch, kind: str, size_after: int) -> bool:
    if not len(batch):
        return False
    if len(batch) >= MAX_ENTITIES_PER_BATCH or size_after > MAX_BATCH_REQUEST_BYTES:
        return True
    if kind == "metrics":
        return len(batch.metrics) >= MAX_METRICS_PER_BATCH
    return len(getattr(batch, kind)) >= MAX_PARAMS_TAGS_PER_BATCH
