"""One chat completion through the real `openai` client, traced by the SDK named on the command line, exported as
OTLP/HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``otel-mlflow receive`` in tests/test_interop_matrix.py). Runs in
that SDK's own venv (``make interop``); the question and answer are planted so the test can find or miss them.

    python openai_app.py openinference|traceloop|logfire|openlit|official

``official`` is OpenTelemetry's own GenAI OpenAI instrumentation, installed with our dev extra (the tests run it
with our venv's Python).
"""

from __future__ import annotations

import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

SYSTEM = "SYSTEM-PLANTED-TEXT answer in one sentence, citing the documents you were given."
QUESTION = "QUESTION-PLANTED-TEXT what does retrieval augmented generation add to an answer?"


def instrument(sdk: str) -> None:
    if sdk == "logfire":
        import logfire

        logfire.configure(send_to_logfire=False, service_name="interop-logfire", console=False)
        logfire.instrument_openai()
        return
    if sdk == "openlit":
        import openlit

        openlit.init(
            otlp_endpoint=os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"],
            application_name="interop-openlit",
            disable_metrics=True,
            pricing_json=os.devnull,  # no download of its price list (no internet here)
        )
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"interop-{sdk}"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    if sdk == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor
    elif sdk == "traceloop":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor
    elif sdk == "official":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        _log_records_too()  # its event_only mode sends the messages as log records
    else:
        raise SystemExit(f"unknown SDK {sdk!r}: openinference, traceloop, logfire, openlit or official")
    OpenAIInstrumentor().instrument()


def _log_records_too() -> None:
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    logs = LoggerProvider(resource=Resource.create({"service.name": "interop-official"}))
    logs.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))
    set_logger_provider(logs)


def main() -> None:
    instrument(sys.argv[1])
    import openai

    client = openai.OpenAI(base_url=os.environ["OPENAI_BASE_URL"], api_key="sk-interop-test")
    reply = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        temperature=0.2,
    )
    print(reply.choices[0].message.content)
    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()  # flushes the spans


if __name__ == "__main__":
    main()
