"""Stamp ``otel_mlflow.run_id`` on spans started while an MLflow run is active on the caller's thread.

MLflow's active run is thread-local and the exporter writes on another thread, so the run must be read
when the span *starts*, on the caller's thread: :class:`RunIdStamper` is a span processor that does that.
Inside ``@log_training_run`` the run is also held in a context variable, which follows asyncio tasks
(MLflow's thread-local run would leak into every task of the event loop's thread).

It never imports mlflow: when mlflow was not imported, no run can be active.
"""

from __future__ import annotations

import contextvars
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from otel_mlflow.attributes import RUN_ID

_current_run: contextvars.ContextVar[str | None] = contextvars.ContextVar("otel_mlflow_run_id", default=None)
_stamped_providers: weakref.WeakSet[object] = weakref.WeakSet()
_stamping = True
"""Off after ``MLflowRunInstrumentor().uninstrument()`` (an SDK provider cannot drop a span processor)."""
_context_bound: dict[str, int] = {}
"""Runs bound with :func:`bound_run` (how many bindings each): only their own context stamps them."""


@contextmanager
def bound_run(run_id: str) -> Iterator[None]:
    """Spans started inside this block (and in tasks it starts) go to MLflow run ``run_id``."""
    token = _current_run.set(run_id)
    _context_bound[run_id] = _context_bound.get(run_id, 0) + 1
    try:
        yield
    finally:
        _current_run.reset(token)
        left = _context_bound.get(run_id, 1) - 1
        if left:
            _context_bound[run_id] = left
        else:
            _context_bound.pop(run_id, None)


def active_run_id() -> str | None:
    """The run spans started here belong to: the bound one, else MLflow's active run on this thread."""
    bound = _current_run.get()
    if bound:
        return bound
    mlflow = sys.modules.get("mlflow")
    active_run = getattr(mlflow, "active_run", None)
    if active_run is None:
        return None
    try:
        run = active_run()
    except Exception:  # noqa: BLE001 - a broken MLflow state must not break span creation
        return None
    if run is None or run.info.run_id in _context_bound:
        return None  # a context-bound run seen from another asyncio task of the same thread
    return str(run.info.run_id)


class RunIdStamper(SpanProcessor):
    """Span processor: sets ``otel_mlflow.run_id`` at span start when a run is active (see module doc)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if not _stamping or (span.attributes and RUN_ID in span.attributes):
            return
        run_id = active_run_id()
        if run_id:
            span.set_attribute(RUN_ID, run_id)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def set_stamping(on: bool) -> None:
    """Switch every :class:`RunIdStamper` on or off."""
    global _stamping
    _stamping = on


def add_run_stamper(provider: object) -> bool:
    """Add a :class:`RunIdStamper` to an SDK ``provider`` once; False when it has one or is no SDK provider."""
    add = getattr(provider, "add_span_processor", None)
    if add is None or provider in _stamped_providers:
        return False
    add(RunIdStamper())
    _stamped_providers.add(provider)
    return True
