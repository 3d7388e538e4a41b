"""Marks otel-mlflow's own wrapt wrappers, so a target is never wrapped twice and only ours are undone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import wrapt

W = TypeVar("W", bound=Callable[..., Any])
_MARK = "_otel_mlflow"


def mark_ours(wrapper: W) -> W:
    setattr(wrapper, _MARK, True)
    return wrapper


def is_ours(obj: Any) -> bool:
    """True when ``obj`` (read with ``inspect.getattr_static``) is a wrapt wrapper made by otel-mlflow."""
    return isinstance(obj, wrapt.FunctionWrapper) and bool(getattr(obj._self_wrapper, _MARK, False))
