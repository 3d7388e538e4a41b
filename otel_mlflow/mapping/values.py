"""Attribute values read leniently, whatever shape a convention or a hand-made span gives them. Pure.

``as_text`` joins arrays; ``as_int`` takes numbers and digit strings; ``token_count`` numbers and numeric
strings, never negative or non-finite ones; ``json_value`` parses JSON text
(arrays item by item: the SDK holds arrays as tuples, decoded or hand-made spans may not).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from otel_mlflow.mapping.limits import finite_number


def first_of(attrs: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            return value
    return None


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return join_text(value)
    return str(value)


def join_text(value: Any) -> str:
    return "\n\n".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def as_int(value: Any) -> int | None:
    number = finite_number(value)
    if number is None and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return int(number) if number is not None else None


def token_count(value: Any) -> tuple[float | None, bool]:
    """A token count and whether a value was there but unusable: numbers and numeric strings (``"120"``) are
    counts; negative, NaN, infinite and other values are not (``(None, True)``: dropped, to be counted)."""
    if value is None:
        return None, False
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None, True
    number = finite_number(value)
    if number is None or number < 0:
        return None, True
    return number, False


def json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, (tuple, list)):  # the SDK holds arrays as tuples; decoded or hand-made spans may not
        return [json_value(v) for v in value]
    return value


def json_object(value: Any) -> dict[str, Any]:
    parsed = json_value(value)
    return parsed if isinstance(parsed, dict) else {}
