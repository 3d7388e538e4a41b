"""``LLMServiceInstrumentor``: spans for the LLM-service functions of your app, with no code change.

Zero-code (the instrumentor is an ``opentelemetry_instrumentor`` entry point named
``otel_mlflow_llm_service``)::

    OTEL_MLFLOW_LLM_FUNCTIONS="services.llm_service:generate_answer" \\
        opentelemetry-instrument uvicorn api_gateway.main:app

In code (before the app imports its service, or the app keeps the unpatched function)::

    from instrumentors.llm_service import LLMServiceInstrumentor
    LLMServiceInstrumentor().instrument(functions=["services.llm_service:generate_answer"])

Targets are ``module:qualname`` entries (``pkg.mod:func`` or ``pkg.mod:Class.method``), from the
``functions`` argument or ``OTEL_MLFLOW_LLM_FUNCTIONS`` (comma-separated; default
``services.llm_service:generate_answer``, the old helper guide's convention). A module not imported yet is patched
the moment it is imported; one never imported costs nothing; a bad entry is one warning, never a crash.
Each call becomes a GenAI span (see :mod:`otel_mlflow.instrumentation.llm_span`). ``uninstrument()`` restores every
original.

Environment: ``OTEL_MLFLOW_LLM_FUNCTIONS``, ``OTEL_MLFLOW_LLM_MODEL`` and ``OTEL_MLFLOW_LLM_PROVIDER``
(model and provider when the call does not tell them), ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Collection
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from instrumentors._patching import is_ours, unwrap, wrap
from otel_mlflow.config import ENV_LLM_FUNCTIONS, LLMServiceSettings
from otel_mlflow.instrumentation.llm_span import TraceOptions, make_options, traced_call
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)


@dataclass(frozen=True)
class Target:
    """One function to patch: ``module`` and the dotted ``qualname`` inside it."""

    module: str
    qualname: str

    @classmethod
    def parse(cls, entry: str) -> Target:
        module, sep, qualname = entry.strip().partition(":")
        if not sep or not module or not qualname or not all(p.isidentifier() for p in qualname.split(".")):
            raise ValueError(f"{entry!r} is not a 'module:function' entry (e.g. services.llm_service:generate_answer)")
        return cls(module, qualname)

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


def parse_targets(entries: Collection[str]) -> list[Target]:
    """Valid targets of ``entries``; each bad entry is one warning naming it."""
    targets = []
    for entry in entries:
        if not entry.strip():
            continue
        try:
            targets.append(Target.parse(entry))
        except ValueError as exc:
            _logger.warning("otel-mlflow: %s in %s; it is skipped", exc, ENV_LLM_FUNCTIONS)
    return targets


class LLMServiceInstrumentor(BaseInstrumentor):
    """Patches LLM-service functions so each call is an OTel GenAI span."""

    def instrumentation_dependencies(self) -> Collection[str]:
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        settings = LLMServiceSettings.from_env()
        entries = kwargs.get("functions")
        if entries is None:
            entries = settings.functions
        self._options = make_options(
            kwargs.get("tracer_provider"),
            kwargs.get("capture_content"),
            model=kwargs.get("model") or settings.model,
            provider=kwargs.get("provider") or settings.provider,
        )
        self._active = True
        self._patched: list[tuple[Any, str]] = []
        for target in parse_targets(entries):
            if target.module in sys.modules:
                self._patch(target, sys.modules[target.module])
            else:
                wrapt.register_post_import_hook(functools.partial(self._patch, target), target.module)

    def _uninstrument(self, **kwargs: Any) -> None:
        self._active = False  # hooks of modules imported later do nothing now
        for owner, name in reversed(self._patched):
            unwrap(owner, name)
        self._patched.clear()

    def _patch(self, target: Target, module: ModuleType) -> None:
        if not getattr(self, "_active", False):
            return
        try:
            owner: Any = module
            *parents, name = target.qualname.split(".")
            for part in parents:
                owner = getattr(owner, part)
            original = inspect.getattr_static(owner, name)
        except AttributeError:
            _logger.warning(
                "otel-mlflow: %s has no %s; %s entry %s is skipped",
                target.module,
                target.qualname,
                ENV_LLM_FUNCTIONS,
                target,
            )
            return
        if is_ours(original):
            return  # never wrap twice
        options = self._options
        wrap(owner, name, _make_wrapper(options))
        self._patched.append((owner, name))
        _logger.debug("otel-mlflow instrumented %s", target)


def _make_wrapper(options: TraceOptions) -> Any:
    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return traced_call(wrapped, args, kwargs, options)

    return wrapper
