"""Metric points that scale (issue 27, ``OTEL_MLFLOW_STEPS``): per-second aggregates whose cost does not grow with the
request rate, that agree with the requests' own values, and that are logged once a second has settled.

Pure plans first, then the real pipeline into a real sqlite store (a window run's metric history read back).
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, set_span_in_context

from otel_mlflow import MLflowSpanExporter
from otel_mlflow import attributes as A
from otel_mlflow.config import Config
from otel_mlflow.export.pending.trace_load import ARRIVAL_WINDOW_SECONDS, PER_SECOND_ABOVE, TraceLoad
from otel_mlflow.mapping.request_record import RequestRecord
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_policy import TracePolicy
from otel_mlflow.mapping.window import Window, window_plan
from otel_mlflow.mapping.window_points import percentile
from tests.helpers import Store

T0 = 1_800_000_000  # a second since the epoch
PS = A.METRIC_PER_SECOND


def record(i: int, end_s: float, latency_ms: float, failed: bool = False) -> RequestRecord:
    end = int(end_s * 1e9)
    return RequestRecord(f"{i:032x}", "rag-api", end - int(latency_ms * 1e6), end, failed, {"k": "2"}, 10, 5)


def points(plan: object, key: str) -> dict[int, float]:
    return {m.timestamp_ms // 1000: m.value for m in plan.metrics if m.key == key}  # type: ignore[attr-defined]


def test_a_second_is_logged_once_settled_and_each_point_agrees_with_its_requests() -> None:
    rng = random.Random(7)
    window = Window(("rag-api", "k=2"), "rag-api", {"k": "2"}, opened_at=0.0, per_second=True)
    made: list[RequestRecord] = []
    plans = []
    for second in range(6):  # each second's requests are filed 5-6 s after they end, as the exporter does
        batch = [record(len(made) + i, T0 + second + rng.random(), rng.uniform(5, 900), failed=rng.random() < 0.1)
                 for i in range(50)]  # fmt: skip
        made += batch
        window.records += batch
        window.start_write()  # OPEN -> SYNCING, as the exporter plans a window's write
        plan, upto = window_plan(window, MappingOptions(), wall_now=T0 + second + 6.5)
        window.settle(upto, "run-1", True, False, plan.points)
        plans.append(plan)
    assert not [m for p in plans for m in p.metrics if m.key == A.METRIC_LATENCY]  # no step per request
    assert plans[0].tags[A.TAG_STEPS] == "second"
    logged = {second: value for p in plans for second, value in points(p, PS["count"]).items()}
    assert sorted(logged) == [T0, T0 + 1, T0 + 2, T0 + 3]  # filed ~6.5 s late: a second settles 7.5 s after it
    by_second: dict[int, list[RequestRecord]] = defaultdict(list)
    for r in made:
        by_second[r.end_ns // 1_000_000_000].append(r)
    for p in plans:
        for second, count in points(p, PS["count"]).items():
            mine = by_second[second]
            latencies = sorted(r.latency_ms for r in mine)
            assert count == len(mine)
            assert points(p, PS["errors"])[second] == sum(r.failed for r in mine)
            assert points(p, PS["max"])[second] == latencies[-1]
            assert points(p, PS["p95"])[second] == percentile(latencies, 95)  # exact, nearest rank
            assert points(p, PS["input_tokens"])[second] == 10 * len(mine)
    window.records.append(record(999, T0 + 1.5, 42))  # filed long after its second's point was logged
    window.close()
    final, _ = window_plan(window, MappingOptions(), wall_now=T0 + 30)
    # the rest at close; the late request counts in the next point logged
    assert points(final, PS["count"]) == {T0 + 4: len(by_second[T0 + 4]) + 1, T0 + 5: len(by_second[T0 + 5])}
    totals = {m.key: m.value for m in final.metrics if m.key == A.METRIC_REQUESTS}
    assert totals[A.METRIC_REQUESTS] == len(made) + 1
    assert sum(logged.values()) + sum(points(final, PS["count"]).values()) == len(made) + 1  # the points add up
    steps = [m.step for m in [*[m for p in plans for m in p.metrics], *final.metrics] if m.key == PS["count"]]
    assert steps == sorted(steps) and len(set(steps)) == len(steps) == 6


def test_a_window_whose_requests_come_late_waits_longer_before_a_second_settles() -> None:
    """Requests that reach the exporter 15 s after they end (a Collector's batches): their seconds wait for them."""
    window = Window(("rag-api", "k=2"), "rag-api", {"k": "2"}, opened_at=0.0, per_second=True)
    window.records = [record(i, T0 + i * 0.1, 10) for i in range(10)]  # all in second T0
    window.start_write()
    plan, upto = window_plan(window, MappingOptions(), wall_now=T0 + 16)
    assert not points(plan, PS["count"])  # 16 s after, but its requests came 15 s late: not settled
    window.settle(upto, "run-1", True, False, plan.points)
    window.records += [record(10 + i, T0 + 0.95, 10) for i in range(5)]  # more of second T0, as late
    window.start_write()
    plan, _ = window_plan(window, MappingOptions(), wall_now=T0 + 17.5)
    assert not points(plan, PS["count"])  # 16.55 s late now: second T0 settles 17.55 s after its end
    window.settle(len(window.records), "run-1", True, False, plan.points)
    window.start_write()
    plan, _ = window_plan(window, MappingOptions(), wall_now=T0 + 19)
    assert points(plan, PS["count"]) == {T0: 15}


def test_auto_is_per_request_at_low_rates_and_per_second_past_five_a_second() -> None:
    load = TraceLoad(TracePolicy.parse("all"), 10.0)
    assert not load.per_second("auto", 0.0) and load.per_second("second", 0.0) and not load.per_second("request", 0.0)
    for i in range(5):  # five requests in the first second: five a second, not more
        load.decide(record(i, T0, 5), now=100.0 + i * 0.1)
    assert not load.per_second("auto", 101.0)
    load.decide(record(5, T0, 5), now=100.9)  # a sixth
    assert load.per_second("auto", 101.0)
    assert not load.per_second("auto", 105.0)  # six in five seconds
    for i in range(6, 6 + int(PER_SECOND_ABOVE * ARRIVAL_WINDOW_SECONDS)):
        load.decide(record(i, T0, 5), now=105.0)
    assert load.per_second("auto", 105.0)


@pytest.mark.parametrize("steps", ["second", "request"])
def test_the_pipeline_writes_per_second_points_that_add_up(store: Store, steps: str) -> None:
    exporter = MLflowSpanExporter(
        config=Config.from_env(
            env={},
            tracking_uri=store.uri,
            artifact_location=str(store.artifacts),
            run_mode="window",
            window_seconds=3600,
            steps=steps,
            traces="off",
        )
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "rag-api"}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("steps")
    rng = random.Random(3)
    ends: dict[int, list[float]] = defaultdict(list)
    now_s = int(time.time()) - 60  # a minute ago: every second has settled
    for _ in range(200):
        end_ns = int((now_s + rng.uniform(0, 5)) * 1e9)
        latency_ns = rng.randint(1, 800) * 1_000_000
        root = tracer.start_span("POST /ask", kind=SpanKind.SERVER, start_time=end_ns - latency_ns)
        chat = tracer.start_span("chat", context=set_span_in_context(root), start_time=end_ns - latency_ns + 1)
        chat.set_attributes({A.GEN_AI_REQUEST_MODEL: "demo", A.GEN_AI_USAGE_INPUT_TOKENS: 3})
        chat.end(end_time=end_ns - 1)
        root.end(end_time=end_ns)
        ends[end_ns // 1_000_000_000].append(latency_ns / 1e6)
    provider.shutdown()
    [run] = store.runs()
    client = store.client()
    assert run.data.tags[A.TAG_STEPS] == steps and int(run.data.metrics[A.METRIC_REQUESTS]) == 200
    if steps == "request":
        assert len(client.get_metric_history(run.info.run_id, A.METRIC_LATENCY)) == 200
        assert not client.get_metric_history(run.info.run_id, PS["count"])
        return
    assert not client.get_metric_history(run.info.run_id, A.METRIC_LATENCY)
    counts = {m.timestamp // 1000: m.value for m in client.get_metric_history(run.info.run_id, PS["count"])}
    maxima = {m.timestamp // 1000: m.value for m in client.get_metric_history(run.info.run_id, PS["max"])}
    assert counts == {second: len(values) for second, values in ends.items()}
    assert maxima == {second: pytest.approx(max(values)) for second, values in ends.items()}
    tokens = client.get_metric_history(run.info.run_id, PS["input_tokens"])
    assert sum(m.value for m in tokens) == 3 * 200


def test_per_second_windows_are_restored_as_such(tmp_path: Path) -> None:
    """A window's steps mode and the seconds already logged are in the spool: a restored window logs only the rest."""
    from otel_mlflow.export.pending.windows import rebuild
    from otel_mlflow.export.spool.file import RunJournal, SpoolFile
    from otel_mlflow.export.spool.guarded import GuardedSpool
    from otel_mlflow.mapping.request_record import record_to_dict

    spool = SpoolFile(tmp_path / "spool.db")
    window = Window(("rag-api", "k=2"), "rag-api", {"k": "2"}, opened_at=0.0, per_second=True)
    spool.add_records([(window.id, window.describe(), 0, record_to_dict(record(0, T0 + 0.5, 10)), [])])
    spool.window_progress(window.id, "run-1", RunJournal.CREATED, synced=1, points=(T0 - 1, T0))
    [restored] = rebuild(spool.windows(), GuardedSpool(None, on_failure=lambda: 0), set(), 0.0)
    assert restored.per_second and restored.points == (T0 - 1, T0) and restored.synced == 1
