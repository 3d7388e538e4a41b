"""Property tests: arbitrary attribute names, types, sizes (megabytes), NaN/inf, nested JSON, bad UTF-8, keys
MLflow rejects or that collide once made valid, token counts of every shape, numpy numbers, and credentials
planted in any field. The mapping always plans valid writes (JSON artifacts parse back, artifact paths never
collide, token metrics are finite and >= 0, no planted secret anywhere); the exporter never raises and MLflow
accepts every write; the helper API takes every real number and refuses anything else with a ValueError."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow import attributes as A
from otel_mlflow.export.pending.windows import WindowSet
from otel_mlflow.mapping.limits import MAX_PARAM_VALUE_CHARS, MAX_TAG_VALUE_CHARS, is_valid_key
from otel_mlflow.mapping.request_record import request_record
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.mapping.window import window_plan
from tests.helpers import SpanRecorder, Store
from tests.test_scrub import VALUE_FORMS

texts = st.text(
    alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff", "\x00", "/", ".", ":"]), max_size=300
)
nested = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=30,
)
values = st.one_of(
    texts,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(min_value=-1000, max_value=1000), max_size=5),
    st.lists(texts, max_size=3),
    nested.map(lambda v: json.dumps(v, default=str)),
    st.text(min_size=7000, max_size=9000),
    st.integers(min_value=1_000_000, max_value=2_000_000).map(lambda n: "y" * n),  # megabytes of text
    st.sampled_from(["120", " 3 ", "-5", "1e400", "nan", "lots"]),  # numbers as text: token counts of every shape
    st.floats(width=32).map(np.float64),  # numpy floats are floats to the SDK
)
prefixes = st.sampled_from(["", A.PARAM_PREFIX, A.METRIC_PREFIX, A.TAG_PREFIX, "gen_ai.", "llm.", "http."])
known_keys = st.sampled_from(
    [
        A.GEN_AI_REQUEST_MODEL,
        A.GEN_AI_USAGE_INPUT_TOKENS,
        A.GEN_AI_USAGE_OUTPUT_TOKENS,
        A.GEN_AI_INPUT_MESSAGES,
        A.GEN_AI_OUTPUT_MESSAGES,
        A.OI_INVOCATION_PARAMETERS,
        A.GEN_AI_RETRIEVAL_DOCUMENTS,
        A.HTTP_STATUS_CODE,
        A.STEP,
        A.QUESTION,
        A.RUN_ID,
    ]
)
colliding = st.sampled_from(["a", "a.txt/b", "a/b", "a_b", "a?", "a ", "A", "a.txt", "/a", "a//b", "../a"])
"""Names that collide once MLflow-valid, or as overflow artifact files and folders."""
attributes = st.dictionaries(
    st.one_of(known_keys, st.tuples(prefixes, texts).map("".join), st.tuples(prefixes, colliding).map("".join)),
    values,
    max_size=15,
)
SECRETS = [(form, secret) for form, secret, _ in VALUE_FORMS]


def make_spans(recorder: SpanRecorder, name: str, root_attrs: dict[str, Any], child_attrs: dict[str, Any]) -> list[Any]:
    root_attrs = {k: v for k, v in root_attrs.items() if k != A.RUN_ID}
    child_attrs = {k: v for k, v in child_attrs.items() if k != A.RUN_ID}
    with recorder.tracer.start_as_current_span(name, attributes=root_attrs):
        with recorder.tracer.start_as_current_span("child", attributes=child_attrs):
            pass
    return recorder.take()


def assert_valid(plan: Any) -> None:
    for key, value in plan.params.items():
        assert is_valid_key(key) and len(value) <= MAX_PARAM_VALUE_CHARS
        value.encode("utf-8")
    for key, value in plan.tags.items():
        assert is_valid_key(key) and len(value) <= MAX_TAG_VALUE_CHARS
        value.encode("utf-8")
    for metric in plan.metrics:
        assert is_valid_key(metric.key) and math.isfinite(metric.value) and metric.step >= 0
        if "token" in metric.key:
            assert metric.value >= 0, metric
    for path, text in plan.artifacts.items():
        assert ".." not in path.split("/") and not path.startswith("/")
        assert not any(other.startswith(path + "/") for other in plan.artifacts), path  # a file, never a folder too
        text.encode("utf-8")
        if path.endswith(".json"):
            json.loads(text)  # valid JSON, however long its strings were


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,  # the same examples in every CI run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(name=texts, root=attributes, child=attributes)
@example(name="r", root={A.PARAM_PREFIX + "a": "v" * 7000, A.PARAM_PREFIX + "a.txt/b": "w" * 7000}, child={})
def test_any_spans_map_to_valid_writes(name: str, root: dict[str, Any], child: dict[str, Any]) -> None:
    spans = make_spans(SpanRecorder(), name, root, child)
    assert_valid(plan_run(spans, MappingOptions()))
    assert_valid(plan_run(spans, MappingOptions(capture_content=False), run_id="r", artifact_prefix="traces/x/"))
    windows = WindowSet(60, 100)
    windows.add(request_record(spans), now=0)
    windows.close_expired(0, draining=True)
    [window] = windows.all()
    assert_valid(window_plan(window, MappingOptions())[0])


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(name=texts, root=attributes, child=attributes)
def test_exporter_never_raises_and_mlflow_accepts_every_write(
    name: str, root: dict[str, Any], child: dict[str, Any], store: Store, make_exporter: Any
) -> None:
    exporter = make_exporter()
    result = exporter.export(make_spans(SpanRecorder(), name, root, child))
    assert result is SpanExportResult.SUCCESS
    assert exporter.force_flush(30_000)
    stats = exporter.stats
    assert stats.spans_dropped_write_failed == 0 and stats.spans_dropped_mapping_failed == 0, stats
    assert stats.spans_written == 2


fields = st.sampled_from(
    ["name", "attribute value", "attribute key", "param", "tag", "event", "status", "link", "header"]
)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(planted=st.lists(st.tuples(fields, st.sampled_from(SECRETS), texts), min_size=1, max_size=4), extra=attributes)
def test_a_secret_planted_in_any_field_is_in_no_planned_write(
    planted: list[tuple[str, tuple[str, str], str]], extra: dict[str, Any]
) -> None:
    from opentelemetry.trace import Link, Status, StatusCode

    recorder = SpanRecorder()
    with recorder.tracer.start_as_current_span("other") as other:
        other_context = other.get_span_context()
    recorder.take()
    name = " ".join(f"{form}" for where, (form, _), _ in planted if where == "name") or "root"
    links = [Link(other_context, {"note": f"{noise} {form}"}) for where, (form, _), noise in planted if where == "link"]
    with recorder.tracer.start_as_current_span(name, links=links, attributes=extra) as span:
        for index, (where, (form, _), noise) in enumerate(planted):
            if where == "attribute value":
                span.set_attribute(f"note.{index}", f"{noise} {form} {noise}")
            elif where == "attribute key":
                span.set_attribute(f"{A.METRIC_PREFIX}{form}", 1.0)
            elif where in ("param", "tag"):
                span.set_attribute(f"{A.PARAM_PREFIX if where == 'param' else A.TAG_PREFIX}x{index}", f"{noise} {form}")
            elif where == "event":
                span.add_event(f"e {form}", {"exception.message": f"{noise} {form}"})
            elif where == "status":
                span.set_status(Status(StatusCode.ERROR, f"{noise} {form}"))
            else:
                span.set_attribute(f"http.request.header.x-{index}-auth", form)
    spans = recorder.take()
    plan = plan_run(spans, MappingOptions())
    written = json.dumps([plan.run_name, plan.params, plan.tags, [m.key for m in plan.metrics], plan.artifacts])
    for _, (_, secret), _ in planted:
        assert secret not in written and json.dumps(secret)[1:-1] not in written, secret


real_numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(width=32).map(np.float32),
    st.integers(-1000, 1000).map(np.int64),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.fractions(max_denominator=100),
)
not_numbers = st.one_of(st.booleans(), st.none(), st.text(max_size=5), st.just(np.bool_(True)), st.lists(st.integers()))


@settings(max_examples=100, deadline=None, derandomize=True)
@given(metrics=st.dictionaries(st.text(min_size=1, max_size=10), st.one_of(real_numbers, not_numbers), max_size=5))
def test_the_helper_api_takes_every_real_number_and_names_the_key_of_anything_else(metrics: dict[str, Any]) -> None:
    from otel_mlflow.instrumentation.helpers import _metric_value

    for key, value in metrics.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number, Decimal, Fraction)):
            with pytest.raises(ValueError, match=re.escape(f"metric {key!r} must be a number")):
                _metric_value(key, value)
        else:
            assert _metric_value(key, value) == float(value)


def test_a_lone_surrogate_in_the_question_never_blocks_its_run(make_exporter: Any, store: Store) -> None:
    """Issue 26, item 9: the run name was built from the question without the cleaning other values get; sqlite
    refused it on every retry, so force_flush failed and exit waited."""
    exporter = make_exporter(retry_timeout=5)
    recorder = SpanRecorder()
    with recorder.tracer.start_as_current_span("POST /ask") as root:
        root.set_attribute(A.QUESTION, "What is \ud800 RAG?")
        with recorder.tracer.start_as_current_span("chat") as chat:
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m")
            chat.set_attribute(A.GEN_AI_PROMPT, "user: \udfff hi")
    assert exporter.export(recorder.take()) is SpanExportResult.SUCCESS
    assert exporter.force_flush(30_000)
    [run] = store.runs()
    assert run.info.run_name == "POST /ask: What is ? RAG?"
    assert exporter.stats.spans_written == 2 and exporter.stats.writes_retried == 0
