"""Property tests: arbitrary attribute names, types, sizes, NaN/inf, nested JSON, bad UTF-8 and keys MLflow
rejects. The mapping always plans valid writes; the exporter never raises and MLflow accepts every write."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace.export import SpanExportResult

from otel_mlflow import attributes as A
from otel_mlflow.mapping.limits import MAX_PARAM_VALUE_CHARS, MAX_TAG_VALUE_CHARS, is_valid_key
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.mapping.request_record import request_record
from otel_mlflow.mapping.window import WindowSet, window_plan
from tests.helpers import SpanRecorder, Store

texts = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "\udfff", "\x00", "/", ".", ":"]),
                max_size=300)  # fmt: skip
nested = st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                      max_leaves=30)  # fmt: skip
values = st.one_of(
    texts,
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.integers(min_value=-1000, max_value=1000), max_size=5),
    st.lists(texts, max_size=3),
    nested.map(lambda v: json.dumps(v, default=str)),
    st.text(min_size=7000, max_size=9000),
)
prefixes = st.sampled_from(["", A.PARAM_PREFIX, A.METRIC_PREFIX, A.TAG_PREFIX, "gen_ai.", "llm.", "http."])
known_keys = st.sampled_from([A.GEN_AI_REQUEST_MODEL, A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_INPUT_MESSAGES,
                              A.GEN_AI_OUTPUT_MESSAGES, A.OI_INVOCATION_PARAMETERS, A.GEN_AI_RETRIEVAL_DOCUMENTS,
                              A.HTTP_STATUS_CODE, A.STEP, A.QUESTION, A.RUN_ID])  # fmt: skip
attributes = st.dictionaries(st.one_of(known_keys, st.tuples(prefixes, texts).map("".join)), values, max_size=15)


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
    for path, text in plan.artifacts.items():
        assert ".." not in path.split("/") and not path.startswith("/")
        text.encode("utf-8")


@settings(max_examples=300, deadline=None, derandomize=True,  # the same examples in every CI run
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(name=texts, root=attributes, child=attributes)
def test_any_spans_map_to_valid_writes(name: str, root: dict[str, Any], child: dict[str, Any]) -> None:
    spans = make_spans(SpanRecorder(), name, root, child)
    assert_valid(plan_run(spans, MappingOptions()))
    assert_valid(plan_run(spans, MappingOptions(capture_content=False), run_id="r", artifact_prefix="traces/x/"))
    windows = WindowSet(60, 100)
    windows.add(request_record(spans), now=0)
    windows.close_expired(0, everything=True)
    [window] = windows.all()
    assert_valid(window_plan(window, MappingOptions())[0])


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])  # fmt: skip
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
