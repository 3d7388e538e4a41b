"""The requests of an experiment's window runs, read back from MLflow and grouped by configuration::

    client = MlflowClient("sqlite:///mlflow.db")
    runs = window_runs(client, experiment_id, since_ms, until_ms, service=None)
    groups = group_by(runs, ["k"])                  # {"k=2": [run, ...], "k=5": [...]}
    rows = requests_of(client, groups["k=2"], since_ms, until_ms)   # one Request per predictions row

A window run's configuration is its params (model, provider, ``k``, temperature, prompt version...); its requests
are the rows of its predictions table (``predictions.json`` and its parts), each with its own time, so a time range
cuts inside a window too. Only closed windows have a table: an open window's requests count once it closes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_mlflow import attributes as A

NO_VALUE = "(none)"
"""A run without the compared param (a request that never set ``k``) groups under this value."""


@dataclass(frozen=True)
class Request:
    """One predictions row: what the comparison reads of a request."""

    end_ms: int
    latency_ms: float
    failed: bool
    input_tokens: float | None
    output_tokens: float | None
    cost_usd: float | None
    time_to_first_chunk_ms: float | None
    feedback: str | None


def window_runs(
    client: Any, experiment_id: str, since_ms: int | None, until_ms: int | None, service: str | None
) -> list[Any]:
    """Every window run of the experiment that overlaps [since, until) (of ``service`` when given), oldest first."""
    where = [f"tags.`{A.TAG_RUN_MODE}` = 'window'"]
    if until_ms is not None:
        where.append(f"attributes.start_time < {int(until_ms)}")
    if service:
        where.append(f"tags.`{A.TAG_SERVICE_NAME}` = '{service.replace(chr(39), '')}'")
    runs: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            filter_string=" and ".join(where),
            order_by=["attributes.start_time ASC"],
            max_results=1000,
            page_token=token,
        )
        runs.extend(r for r in page if since_ms is None or (r.info.end_time or 2**62) >= since_ms)
        token = page.token
        if not token:
            return runs


def configuration(run: Any, by: Sequence[str]) -> str:
    """The run's label for the fields compared: ``k=2`` or ``model=gpt-4o,k=2``."""
    return ",".join(f"{field}={run.data.params.get(field, NO_VALUE)}" for field in by)


def group_by(runs: Iterable[Any], by: Sequence[str]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for run in runs:
        groups.setdefault(configuration(run, by), []).append(run)
    return groups


def requests_of(client: Any, runs: Iterable[Any], since_ms: int | None, until_ms: int | None) -> list[Request]:
    """The requests of ``runs`` that ended in [since, until), from their predictions tables."""
    found: list[Request] = []
    with tempfile.TemporaryDirectory(prefix="otel-mlflow-compare-") as scratch:
        for run in runs:
            for table in _tables(client, run.info.run_id, Path(scratch)):
                found.extend(
                    r
                    for r in _rows(table)
                    if (since_ms is None or r.end_ms >= since_ms) and (until_ms is None or r.end_ms < until_ms)
                )
    return found


def _tables(client: Any, run_id: str, scratch: Path) -> list[dict[str, Any]]:
    names = sorted(
        f.path
        for f in client.list_artifacts(run_id)
        if not f.is_dir and f.path.startswith("predictions") and f.path.endswith(".json")
    )
    tables = []
    for name in names:  # predictions.json, predictions-002.json, ...
        local = client.download_artifacts(run_id, name, str(scratch))
        tables.append(json.loads(Path(local).read_text()))
    return tables


def _rows(table: dict[str, Any]) -> list[Request]:
    columns = {name: i for i, name in enumerate(table.get("columns", []))}

    def cell(row: list[Any], name: str) -> Any:
        index = columns.get(name)
        return row[index] if index is not None and index < len(row) else None

    return [
        Request(
            end_ms=_epoch_ms(cell(row, "timestamp")),
            latency_ms=float(cell(row, "latency_ms")),
            failed=cell(row, "status") == "error",
            input_tokens=_number(cell(row, "input_tokens")),
            output_tokens=_number(cell(row, "output_tokens")),
            cost_usd=_number(cell(row, "cost_usd")),
            time_to_first_chunk_ms=_number(cell(row, "time_to_first_chunk_ms")),
            feedback=None if cell(row, "feedback") is None else str(cell(row, "feedback")),
        )
        for row in table.get("data", [])
        if _number(cell(row, "latency_ms")) is not None and _epoch_ms(cell(row, "timestamp")) >= 0
    ]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _epoch_ms(iso: Any) -> int:
    """``2026-12-06T10:00:00.123Z`` (the table's timestamp) as milliseconds since the epoch; -1 when it is none (a
    table edited by hand: that row is left out)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return -1
