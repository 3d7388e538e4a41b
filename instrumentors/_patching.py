"""otel-mlflow's own wrapt patches: a target is never wrapped twice, and only ours are undone.

Ours are remembered by identity (wrapt proxies compare equal to what they wrap, so no set or ``==``)::

    wrap(module, "generate_answer", wrapper)   # wrapt.wrap_function_wrapper, remembered
    is_ours(inspect.getattr_static(module, "generate_answer"))   # True
    unwrap(module, "generate_answer")          # the original back; False when it is not ours
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import wrapt

_ours: dict[int, Any] = {}
"""id -> wrapper, for every wrapper otel-mlflow installed and has not removed (held: ids stay unique)."""


def wrap(owner: Any, name: str, wrapper: Callable[..., Any]) -> Any:
    """Patch ``owner.name`` with a wrapt ``FunctionWrapper`` around ``wrapper``; returns the patch."""
    patch = wrapt.wrap_function_wrapper(owner, name, wrapper)
    _ours[id(patch)] = patch
    return patch


def is_ours(obj: Any) -> bool:
    """True when ``obj`` (read with ``inspect.getattr_static``) is a patch :func:`wrap` installed."""
    return _ours.get(id(obj)) is obj


def unwrap(owner: Any, name: str) -> bool:
    """Put back what ``owner.name`` held before our patch; False (nothing changed) when it is not ours."""
    current = inspect.getattr_static(owner, name, None)
    if not is_ours(current):
        return False
    setattr(owner, name, current.__wrapped__)
    del _ours[id(current)]
    return True
