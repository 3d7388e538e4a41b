"""Where the helper API sends its spans: a backend that :mod:`otel_mlflow.wiring` registers.

Instrumentation never imports the exporter; the wiring joins the two. Importing any part of
``otel_mlflow`` imports the package first, and the package registers the wiring's backend, so a helper
call always finds one. Usage (what the wiring does)::

    from otel_mlflow.instrumentation.backend import register_backend
    register_backend(lambda: my_backend)   # anything with .tracer and .require_experiment()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from opentelemetry.trace import Tracer


class HelperBackend(Protocol):
    """What the helper API needs: a tracer for its spans, and the experiment for a run it opens itself."""

    @property
    def tracer(self) -> Tracer: ...

    def require_experiment(self) -> str:
        """The MLflow experiment id; raises within seconds when the tracking store does not answer."""
        ...


_factory: Callable[[], HelperBackend] | None = None


def register_backend(factory: Callable[[], HelperBackend]) -> None:
    """Make ``factory`` the helper API's backend (called on every helper call: keep it cheap)."""
    global _factory
    _factory = factory


def backend() -> HelperBackend:
    """The registered backend; a RuntimeError naming the fix when nothing registered one."""
    if _factory is None:
        raise RuntimeError("otel-mlflow's helper API has no backend; import otel_mlflow (it registers one)")
    return _factory()
