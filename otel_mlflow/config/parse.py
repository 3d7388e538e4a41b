"""Reading one environment value: each parser takes the variable's name (for the error) and its text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from otel_mlflow.config.errors import ConfigError

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"}
_FALSE = {"false", "0", "no", "off", "no_content"}


def pick(given: Mapping[str, Any], source: Mapping[str, str], name: str, var: str,
         read: Callable[[str, str], T]) -> T | None:  # fmt: skip
    """One setting: ``given[name]`` (an argument or flag; None counts as not given), else the variable ``var``
    of ``source`` read with ``read`` (blank counts as unset), else None (the default applies)."""
    if given.get(name) is not None:
        return given[name]  # type: ignore[no-any-return]
    raw = source.get(var)
    if raw is None or not raw.strip():
        return None
    return read(var, raw.strip())


def names(_name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated entries, blanks dropped."""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def text(_name: str, raw: str) -> str:
    return raw


def lower(_name: str, raw: str) -> str:
    return raw.lower()


def boolean(name: str, raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false")


def seconds(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds, e.g. {name}=30") from None


def whole(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number, e.g. {name}=1000") from None
