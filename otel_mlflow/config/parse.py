"""Reading one environment value: each parser takes the variable's name (for the error) and its text."""

from __future__ import annotations

from otel_mlflow.config.errors import ConfigError

_TRUE = {"true", "1", "yes", "on", "span_only", "span_and_event", "event_only"}
_FALSE = {"false", "0", "no", "off", "no_content"}


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
