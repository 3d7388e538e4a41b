"""Spans stored as MLflow traces, linked to their run: every call to MLflow's tracing APIs is here.

Checked against MLflow 3.6 to 3.17.2 (``tests/test_mlflow_traces.py`` fails loudly when a call changes).

- **A server** (``http(s)://``): ``POST /v1/traces`` with ``x-mlflow-experiment-id`` and ``x-mlflow-run-id``
  (:func:`~otel_mlflow.export.mlflow_server.send_trace`); the server stores and links them.
- **A database store in process** (sqlite, PostgreSQL...): what the server's handler does, there being no public
  API for OTel spans: ``mlflow.entities.span.Span.from_otel_proto(span, location_id=experiment_id)`` for each
  span of the OTLP encoding, ``mlflow.tracing.client.TracingClient(uri).log_spans(experiment_id, spans)``, then
  the public ``MlflowClient.link_traces_to_run`` (at most 100 ids a call). Logging the same spans again leaves one
  trace (a replay after a crash writes nothing twice).
- **The file store** (``./mlruns``) cannot hold traces: :class:`LinkRefused`, and the writer stops trying.

Usage::

    traces = MLflowTraces(tracking_uri)
    ids = traces.log(client, experiment_id, run_id, spans)     # MLflow trace ids (in process), or [] (server)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import is_server_uri
from otel_mlflow.export.mlflow_server import LinkRefused, send_trace

LINK_BATCH = 100
"""``link_traces_to_run`` takes at most this many trace ids a call."""


class MLflowTraces:
    """Stores spans as traces in the tracking store of ``tracking_uri``; one per writer."""

    def __init__(self, tracking_uri: str | None) -> None:
        self.tracking_uri = tracking_uri
        self._tracing_client: Any = None

    def log(self, client: Any, experiment_id: str, run_id: str, spans: Sequence[ReadableSpan]) -> list[str]:
        """Store ``spans`` (any number of traces) in ``experiment_id``, linked to ``run_id``. Raises
        :class:`LinkRefused` when the store cannot hold traces; anything else is worth a retry."""
        if not spans:
            return []
        if self.tracking_uri and is_server_uri(self.tracking_uri):
            send_trace(self.tracking_uri, spans, experiment_id, run_id)
            return []
        from mlflow.entities.span import Span

        request = encode_spans(spans)
        mlflow_spans = [Span.from_otel_proto(span, location_id=experiment_id, resource=resource_spans.resource)
                        for resource_spans in request.resource_spans for scope_spans in resource_spans.scope_spans
                        for span in scope_spans.spans]  # fmt: skip
        try:
            self._tracing().log_spans(experiment_id, mlflow_spans)
        except NotImplementedError:
            raise LinkRefused(f"the tracking store {self.tracking_uri or './mlruns'} cannot hold traces; use a "
                              "database store such as sqlite:///mlflow.db") from None  # fmt: skip
        ids = sorted({span.trace_id for span in mlflow_spans})
        for start in range(0, len(ids), LINK_BATCH):
            client.link_traces_to_run(ids[start : start + LINK_BATCH], run_id)
        return ids

    def _tracing(self) -> Any:
        if self._tracing_client is None:
            from mlflow.tracing.client import TracingClient

            self._tracing_client = TracingClient(self.tracking_uri)
        return self._tracing_client
