"""Reading one environment value: each parser takes the variable's name (for the error) and its text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from otel_mlflow.config.errors import ConfigError

T = TypeVar("T")

_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"}
_FALSE = {"false", "0", "no", "off", "no_content"}


def pick(
    given: Mapping[str, Any], source: Mapping[str, str], name: str, var: str, read: Callable[[str, str], T]
) -> T | None:
    """One setting: ``given[name]`` (an argument or flag; None counts as not given), else the variable ``var``
    of ``source`` read with ``read`` (blank counts as unset), else None (the default applies)."""
    if given.get(name) is not None:
        return given[name]
    raw = source.get(var)
    if raw is None or not raw.strip():
        return None
    return read(var, raw.strip())


def names(_name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated entries, blanks dropped."""
    return tuple(p.strip() for p in raw.split(",") if p.strip())


def objectives(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated ``<metric><op><number>`` objectives, checked now (:mod:`otel_mlflow.mapping.slo`'s form)."""
    from otel_mlflow.config.objectives import parse_objectives

    try:
        return tuple(o.text for o in parse_objectives(raw))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def patterns(_name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated regular expressions; a comma inside ``{m,n}`` or ``[...]`` belongs to its pattern."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    escaped = False
    for char in raw:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "{[":
            depth += 1
        elif char in "}]" and depth:
            depth -= 1
        elif char == "," and not depth:
            out.append("".join(current))
            current = []
            continue
        current.append(char)
    out.append("".join(current))
    return tuple(p.strip() for p in out if p.strip())


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


TRACE_MODES = ("all", "adaptive", "off")


def traces(name: str, raw: str) -> str:
    """``all``, ``adaptive``, ``off`` or a ratio in (0, 1] (``OTEL_MLFLOW_TRACES``), lower-cased."""
    value = raw.strip().lower()
    if value in TRACE_MODES:
        return value
    try:
        ratio = float(value)
    except ValueError:
        ratio = float("nan")
    if not 0 < ratio <= 1:
        raise ConfigError(f"{name}={raw!r} is not all, adaptive, off or a share of traces from 0 (excluded) to 1")
    return value


def eval_rule(name: str, raw: str) -> tuple[str, ...]:
    """Comma-separated evaluation-case terms (``failed``, ``latency_ms>N``, ``feedback=VALUE``), checked now."""
    from otel_mlflow.config.eval_rule import parse_rule

    terms = tuple(p.strip() for p in raw.split(",") if p.strip())
    try:
        parse_rule(terms)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    return terms
