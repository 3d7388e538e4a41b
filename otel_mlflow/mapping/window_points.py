"""A window run's metric points: per-second aggregates (``OTEL_MLFLOW_STEPS=second``) and the aggregates and
predictions table of its closing write. Pure: no I/O, no clock (:mod:`.window` plans the writes)::

    points = per_second_points(builder, records, points=None, settled=int(time.time()) - 7)  # (origin, through)
    closing_points(builder, records, end_ms)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

from otel_mlflow import attributes as A
from otel_mlflow.mapping.feedback import feedback_counts
from otel_mlflow.mapping.limits import MAX_TAG_VALUE_CHARS
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.run_plan import PlanBuilder
from otel_mlflow.mapping.slo import slo_entries

TABLE_COLUMNS = (
    "timestamp",
    "question",
    "answer",
    "latency_ms",
    "input_tokens",
    "output_tokens",
    "status",
    "feedback",
    "trace_id",
    "error",
    "session",
    "user",
    "trace",
    "cost_usd",
    "time_to_first_chunk_ms",
)


Points = tuple[int, int]
"""A window's per-second points so far: (the second its steps count from, the last second logged)."""


def per_second_points(
    builder: PlanBuilder, records: Sequence[RequestRecord], points: Points | None, settled: int | None
) -> Points | None:
    """A point per second of request ends after the last one logged (``points``) and before ``settled`` (None: every
    second); returns the points so far. A request not counted yet whose second is logged already counts in the next
    one (the points add up to the requests); the requests counted are marked (``in_points``). A point's step is its
    second since the earliest start among the requests of the first points (fixed then)."""
    if not records:
        return points
    origin, after = points or (min(r.start_ns for r in records) // 1_000_000_000, -1)
    seconds: dict[int, list[RequestRecord]] = {}
    for record in records:
        second = max(after + 1, record.end_ns // 1_000_000_000)
        if not record.in_points and (settled is None or second < settled):
            seconds.setdefault(second, []).append(record)
            record.in_points = True
    names = A.METRIC_PER_SECOND
    for second, group in sorted(seconds.items()):
        ts, step = second * 1000, max(0, second - origin)
        latencies = sorted(r.latency_ms for r in group)
        costs = [r.cost_usd for r in group if r.cost_usd is not None]
        for key, value in (
            (names["count"], len(group)),
            (names["errors"], sum(1 for r in group if r.failed)),
            (names["p50"], percentile(latencies, 50)),
            (names["p95"], percentile(latencies, 95)),
            (names["max"], latencies[-1]),
            (names["input_tokens"], sum(r.input_tokens or 0 for r in group)),
            (names["output_tokens"], sum(r.output_tokens or 0 for r in group)),
            (names["cost"], sum(costs) if costs else None),
        ):
            builder.metric(key, value, ts, step, absolute=True)
    return origin, max(after, settled - 1) if settled is not None else max([after, *seconds])


def closing_points(builder: PlanBuilder, records: Sequence[RequestRecord], end_ms: int) -> None:
    """A closed window's aggregates (one point each, at its end), its objectives, and its predictions table."""
    first_closing = len(builder.plan.metrics)
    latencies = sorted(r.latency_ms for r in records)
    errors = sum(1 for r in records if r.failed)
    input_total = sum(r.input_tokens or 0 for r in records)
    output_total = sum(r.output_tokens or 0 for r in records)
    span_s = max(1e-9, (max(r.end_ns for r in records) - min(r.start_ns for r in records)) / 1e9)
    for key, value in (
        (A.METRIC_LATENCY_P50, percentile(latencies, 50)),
        (A.METRIC_LATENCY_P95, percentile(latencies, 95)),
        (A.METRIC_LATENCY_P99, percentile(latencies, 99)),
        (A.METRIC_REQUESTS, len(records)),
        (A.METRIC_ERRORS, errors),
        (A.METRIC_ERROR_RATE, errors / len(records)),
        (A.METRIC_INPUT_TOTAL, input_total),
        (A.METRIC_OUTPUT_TOTAL, output_total),
        (A.METRIC_TOTAL_TOKENS, input_total + output_total),
        (A.METRIC_TOKENS_PER_SECOND, (input_total + output_total) / span_s),
    ):
        builder.metric(key, value, end_ms, 0, absolute=True)
    firsts = sorted(r.time_to_first_chunk_ms for r in records if r.time_to_first_chunk_ms is not None)
    if firsts:  # only when some request streamed
        builder.metric(A.METRIC_TTFC_P50, percentile(firsts, 50), end_ms, 0, absolute=True)
        builder.metric(A.METRIC_TTFC_P95, percentile(firsts, 95), end_ms, 0, absolute=True)
    costs = [r.cost_usd for r in records if r.cost_usd is not None]
    if costs:
        builder.metric(A.METRIC_COST_TOTAL, sum(costs), end_ms, 0, absolute=True)
    for key, count in feedback_counts(r.feedback for r in records).items():  # feedback.helpful = 3
        builder.metric(key, count, end_ms, 0, absolute=True)
    decided = [r.trace for r in records if r.trace is not None]
    if decided:  # how many MLflow traces were stored, and how many the policy left out: never silent
        stored = sum(1 for why in decided if why.startswith("stored"))
        builder.metric(A.METRIC_TRACES_STORED, stored, end_ms, 0, absolute=True)
        builder.metric(A.METRIC_TRACES_SAMPLED_OUT, len(decided) - stored, end_ms, 0, absolute=True)
    for key in A.DETAIL_TOKEN_KEYS:  # e.g. gen_ai.usage.cache_read.input_tokens.total, only when some request had it
        counts = [r.detail_tokens[key] for r in records if key in r.detail_tokens]
        if counts:
            builder.metric(f"{key}.total", sum(counts), end_ms, 0, absolute=True)
    slo_entries(builder, {m.key: m.value for m in builder.plan.metrics[first_closing:]}, end_ms)
    builder.tag(A.TAG_WINDOW_END, iso(max(r.end_ns for r in records)))
    rows = [
        [
            iso(r.end_ns),
            r.question,
            r.answer,
            round(r.latency_ms, 3),
            r.input_tokens,
            r.output_tokens,
            "error" if r.failed else "ok",
            r.feedback,
            r.trace_id,
            r.error,
            r.session,
            r.user,
            r.trace,
            r.cost_usd,
            r.time_to_first_chunk_ms,
        ]
        for r in records
    ]
    if not builder.options.capture_content:
        for row in rows:
            row[1] = row[2] = None
    paths = builder.table_artifacts(A.ARTIFACT_PREDICTIONS, A.ARTIFACT_PREDICTIONS_PART, list(TABLE_COLUMNS), rows)
    builder.tag(A.TAG_LOGGED_ARTIFACTS, logged_tables(paths))


def logged_tables(paths: Sequence[str]) -> str:
    """MLflow's ``mlflow.loggedArtifacts`` tag (what its UI lists as tables): as many of ``paths`` as the tag holds
    (hundreds of parts; the rest are artifacts all the same)."""
    listed: list[dict[str, str]] = []
    for path in paths:
        if len(json.dumps([*listed, {"path": path, "type": "table"}])) > MAX_TAG_VALUE_CHARS:
            break
        listed.append({"path": path, "type": "table"})
    return json.dumps(listed)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def iso(ns: int) -> str:
    """An ISO 8601 UTC time with milliseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns / 1e9)) + f".{(ns // 1_000_000) % 1000:03d}Z"
