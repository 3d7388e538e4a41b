"""A JSON artifact within a size limit that stays valid JSON: strings are cut inside, never the document.

Usage::

    text, cut = fit_json({"columns": [...], "data": rows}, limit=1_000_000, clean=str.strip)

Each string first goes through ``clean`` (scrubbing). Over ``limit`` characters, every string longer than a
budget is cut to it with a marker naming its original length; the budget halves until the document fits. If
even short strings do not fit (a huge number of items), trailing items of the longest list are dropped and a
last item says how many. ``cut`` is True when anything was shortened.

A table (MLflow's ``{"columns": [...], "data": [...]}`` shape) is split instead: every row kept, in parts that each
fit; only a row over the limit on its own has its strings cut::

    parts, cut = fit_table(["time", "question"], rows, limit=1_000_000, clean=scrub)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

CUT_MARK = "[... truncated by otel-mlflow: {n} of {total} characters cut]"
DROPPED_ITEMS = "[... truncated by otel-mlflow: {n} more items]"
_SMALLEST_BUDGET = 64


def fit_json(
    data: Any, limit: int, clean: Callable[[str], str] = lambda s: s, indent: int | None = None
) -> tuple[str, bool]:
    data = _map_strings(data, clean)
    text = _dumps(data, indent)
    if len(text) <= limit:
        return text, False
    budget = max(_SMALLEST_BUDGET, limit // 2)
    while True:
        shortened = _map_strings(data, functools.partial(_cut, budget=budget))
        text = _dumps(shortened, indent)
        if len(text) <= limit or budget <= _SMALLEST_BUDGET:
            break
        budget = max(_SMALLEST_BUDGET, budget // 2)
    while len(text) > limit and _drop_items(shortened):
        text = _dumps(shortened, indent)
    return text, True


def fit_table(
    columns: list[str], rows: list[list[Any]], limit: int, clean: Callable[[str], str] = lambda s: s
) -> tuple[list[str], bool]:
    """``rows`` as one or more tables of ``columns``, each valid JSON of at most ``limit`` characters (a row that
    alone does not fit has its strings cut, counted in ``cut``). Each row is serialised once."""
    head = '{"columns": ' + _dumps(columns, None) + ', "data": ['
    room = max(_SMALLEST_BUDGET, limit - len(head) - 2)
    parts: list[list[str]] = [[]]
    size, cut = 0, False
    for row in rows:
        cleaned = _map_strings(row, clean)
        text = _dumps(cleaned, None)
        if len(text) > room:
            text, _ = fit_json(cleaned, room)  # cut until the row fits alone
            cut = True
        if parts[-1] and size + 2 + len(text) > room:
            parts.append([])
            size = 0
        size += len(text) + 2 * bool(parts[-1])
        parts[-1].append(text)
    return [head + ", ".join(part) + "]}" for part in parts], cut


def _dumps(data: Any, indent: int | None) -> str:
    return json.dumps(data, ensure_ascii=False, indent=indent, default=str)


def _cut(text: str, budget: int) -> str:
    if len(text) <= budget:
        return text
    return text[:budget] + CUT_MARK.format(n=len(text) - budget, total=len(text))


def _map_strings(data: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(data, str):
        return fn(data)
    if isinstance(data, dict):
        return {key: _map_strings(value, fn) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [_map_strings(item, fn) for item in data]
    return data


def _drop_items(data: Any) -> bool:
    """Halve the longest list inside ``data`` (its last item notes the drop); False when none can shrink."""
    longest = _longest_list(data)
    if longest is None or len(longest) <= 2:
        return False
    previous = 0
    last = longest[-1]
    if isinstance(last, str) and last.startswith("[... truncated by otel-mlflow: ") and last.endswith(" more items]"):
        previous = int(longest.pop().split(": ")[1].split(" ")[0])
    keep = len(longest) // 2
    dropped = len(longest) - keep + previous
    del longest[keep:]
    longest.append(DROPPED_ITEMS.format(n=dropped))
    return True


def _longest_list(data: Any) -> list[Any] | None:
    best: list[Any] | None = data if isinstance(data, list) else None
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    for child in children:
        found = _longest_list(child)
        if found is not None and (best is None or len(found) > len(best)):
            best = found
    return best
