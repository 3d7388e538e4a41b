"""GenAI events sent as OTLP log records (OpenTelemetry's `event_only` mode): taken by the receiver over HTTP
(`/v1/logs`) and gRPC (`LogsService`) and in process (`OTEL_LOGS_EXPORTER=mlflow`), spooled with the spans, joined
to their span whether they come before or after it, counted when their span never comes, and the call's text in
MLflow like text sent on the span."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.trace import SpanKind

from otel_mlflow import attributes as A
from otel_mlflow.config import ReceiverSettings
from otel_mlflow.export.log_exporter import MLflowLogExporter
from otel_mlflow.mapping.log_events import event_span, fold_log_events
from otel_mlflow.mapping.run_plan import MappingOptions
from otel_mlflow.mapping.trace_run import plan_run
from otel_mlflow.serve.grpc_receiver import GrpcReceiver
from otel_mlflow.serve.intake import Intake
from tests.fake_openai import ANSWER
from tests.helpers import SpanRecorder, Store

QUESTION = "QUESTION-PLANTED what does retrieval augmented generation add to an answer?"
DETAILS = "gen_ai.client.inference.operation.details"
INPUT = [{"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]
OUTPUT = [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}]


def _call(recorder: SpanRecorder) -> list[Any]:
    """A served request with one chat call whose span carries no text (the text goes as a log record)."""
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        with recorder.tracer.start_as_current_span("chat m-1", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m-1")
            chat.set_attribute(A.GEN_AI_USAGE_INPUT_TOKENS, 11)
    return recorder.take()


def _details(chat: Any) -> Any:
    ctx = chat.context
    fields = {A.GEN_AI_INPUT_MESSAGES: INPUT, A.GEN_AI_OUTPUT_MESSAGES: OUTPUT, A.GEN_AI_REQUEST_MODEL: "m-1"}
    return event_span(ctx.trace_id, ctx.span_id, DETAILS, fields, chat.start_time + 1)


def test_a_record_before_or_after_its_span_becomes_that_calls_text(recorder: SpanRecorder) -> None:
    spans = _call(recorder)
    chat = next(s for s in spans if s.name == "chat m-1")
    for order in ([_details(chat), *spans], [*spans, _details(chat)]):
        folded, orphans = fold_log_events(order)
        assert orphans == 0 and len(folded) == 2
        plan = plan_run(folded, MappingOptions())
        assert QUESTION in plan.artifacts["prompt.txt"] and ANSWER in plan.artifacts["response.txt"]


def test_the_older_per_message_events_as_records(recorder: SpanRecorder) -> None:
    spans = _call(recorder)
    chat = next(s for s in spans if s.name == "chat m-1")
    ctx = chat.context
    user = event_span(ctx.trace_id, ctx.span_id, "gen_ai.user.message", {"content": QUESTION}, chat.start_time)
    choice = event_span(
        ctx.trace_id, ctx.span_id, "gen_ai.choice", {"index": 0, "message": {"content": ANSWER}}, chat.end_time
    )
    plan = plan_run(fold_log_events([*spans, user, choice])[0], MappingOptions())
    assert plan.artifacts["prompt.txt"] == f"user: {QUESTION}" and ANSWER in plan.artifacts["response.txt"]


def test_a_record_sent_twice_is_one_event_and_one_without_its_span_is_an_orphan(recorder: SpanRecorder) -> None:
    spans = _call(recorder)
    chat = next(s for s in spans if s.name == "chat m-1")
    again = _details(chat)
    lost = event_span(chat.context.trace_id, 0xABC, DETAILS, {"x": 1}, chat.start_time)  # its span never came
    folded, orphans = fold_log_events([*spans, _details(chat), again, lost])
    assert orphans == 1
    [call] = [s for s in folded if s.name == "chat m-1"]
    assert [e.name for e in call.events] == [DETAILS]
    assert fold_log_events([lost]) == ([], 1)


def test_capture_off_keeps_no_text_of_a_record(recorder: SpanRecorder) -> None:
    spans = _call(recorder)
    chat = next(s for s in spans if s.name == "chat m-1")
    plan = plan_run(fold_log_events([*spans, _details(chat)])[0], MappingOptions(capture_content=False))
    assert "PLANTED" not in json.dumps([plan.artifacts, plan.params, plan.tags])
    assert DETAILS in plan.artifacts["spans.json"]  # the event is there, without its text


def _emit(logs: LoggerProvider, recorder: SpanRecorder) -> list[Any]:
    """One request whose call's text goes as a GenAI event record, plus one plain log line (not kept)."""
    logger = logs.get_logger("app")
    with recorder.tracer.start_as_current_span("POST /ask", kind=SpanKind.SERVER):
        with recorder.tracer.start_as_current_span("chat m-1", kind=SpanKind.CLIENT) as chat:
            chat.set_attribute(A.GEN_AI_OPERATION_NAME, "chat")
            chat.set_attribute(A.GEN_AI_REQUEST_MODEL, "m-1")
            attributes = {A.GEN_AI_INPUT_MESSAGES: INPUT, A.GEN_AI_OUTPUT_MESSAGES: OUTPUT}
            logger.emit(LogRecord(event_name=DETAILS, attributes=attributes))  # before its span ends
            logger.emit(LogRecord(body="a plain log line, no GenAI event"))
    return recorder.take()


def _check_run(store: Store) -> None:
    [run] = store.runs()
    assert QUESTION in store.artifact_text(run, "prompt.txt")
    assert store.artifact_text(run, "response.txt") == f"assistant: {ANSWER}"


@pytest.fixture
def log_provider() -> Iterator[LoggerProvider]:
    logs = LoggerProvider()
    yield logs
    logs.shutdown()


def test_over_http_records_join_spans_and_other_logs_are_refused_one_by_one(
    recorder: SpanRecorder, store: Store, start_receiver: Any, log_provider: LoggerProvider
) -> None:
    receiver = start_receiver()
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(HttpLogExporter(f"{receiver.url}/v1/logs")))
    spans = _emit(log_provider, recorder)
    OTLPSpanExporter(endpoint=f"{receiver.url}/v1/traces", timeout=10).export(spans)
    assert receiver.exporter.force_flush(20_000)
    _check_run(store)
    assert receiver.stats["accepted_log_records"] == 1 and receiver.stats["rejected_log_records"] == 1
    assert receiver.exporter.stats.log_events_joined == 1


def test_over_grpc_the_logs_service_takes_them_too(
    recorder: SpanRecorder, store: Store, make_exporter: Any, log_provider: LoggerProvider
) -> None:
    settings = ReceiverSettings(host="127.0.0.1", port=0, grpc_port=0)
    receiver = GrpcReceiver(Intake(make_exporter(), settings)).start()
    try:
        endpoint = f"http://{receiver.endpoint}"
        exporter = GrpcLogExporter(endpoint=endpoint, insecure=True, compression=grpc.Compression.Gzip)
        log_provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
        spans = _emit(log_provider, recorder)
        receiver.intake.exporter.export(spans)
        assert receiver.intake.exporter.force_flush(20_000)
        _check_run(store)
        assert receiver.intake.stats["accepted_log_records"] == 1
    finally:
        receiver.stop(0)


def test_in_process_the_log_exporter_hands_records_to_the_span_exporter(
    recorder: SpanRecorder, store: Store, make_exporter: Any, log_provider: LoggerProvider
) -> None:
    exporter = make_exporter()
    log_exporter = MLflowLogExporter()  # finds the process's live span exporter
    log_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    exporter.export(_emit(log_provider, recorder))
    assert exporter.force_flush(20_000)
    _check_run(store)
    assert log_exporter.ignored == 1 and exporter.stats.log_events_joined == 1


ZERO_CODE_APP = textwrap.dedent(
    """
    import os
    import openai

    client = openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-zero-code-test")
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": os.environ["Q"]}])
    """
)


@pytest.mark.subprocess
def test_zero_code_event_only_mode_lands_the_text(chat_server: str, store: Store, tmp_path: Path) -> None:
    """`opentelemetry-instrument` with our distro: the official OpenAI instrumentation in `event_only` mode sends
    the messages through the Logs API; `OTEL_LOGS_EXPORTER=mlflow` (the distro's default) brings them to the run."""
    (tmp_path / "app.py").write_text(ZERO_CODE_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=store.uri,
        MLFLOW_ARTIFACT_PATH=str(store.artifacts),
        OPENAI_BASE_URL=f"{chat_server}/v1",
        Q=QUESTION,
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="EVENT_ONLY",
        OTEL_SEMCONV_STABILITY_OPT_IN="gen_ai_latest_experimental",
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), sys.executable, "app.py"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    [run] = store.runs()
    assert QUESTION in store.artifact_text(run, "prompt.txt"), done.stderr[-2000:]
    assert ANSWER in store.artifact_text(run, "response.txt")


def test_logs_take_the_same_token_and_limits_as_traces(recorder: SpanRecorder, start_receiver: Any) -> None:
    import httpx
    from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

    memory = InMemoryLogRecordExporter()
    logs = LoggerProvider()
    logs.add_log_record_processor(SimpleLogRecordProcessor(memory))
    for _ in range(3):
        _emit(logs, recorder)
    body = encode_logs(memory.get_finished_logs()).SerializeToString()  # 6 records: 3 events, 3 plain lines
    receiver = start_receiver(token="s3cret", receiver={"max_spans": 5})
    headers = {"content-type": "application/x-protobuf"}
    assert httpx.post(f"{receiver.url}/v1/logs", content=body, headers=headers).status_code == 401
    too_many = httpx.post(
        f"{receiver.url}/v1/logs", content=body, headers={**headers, "authorization": "Bearer s3cret"}
    )
    assert too_many.status_code == 413 and "6 log records" in too_many.text
    assert receiver.stats["accepted_log_records"] == 0 and receiver.stats["refused_requests"] == 2
