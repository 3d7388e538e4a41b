"""Spans stored as MLflow traces, linked to their run: every call to MLflow's tracing APIs is here.

Checked against MLflow 3.6 to 3.17.2 (``tests/test_mlflow_traces.py`` fails loudly when a call changes).

- **A server** (``http(s)://``): ``POST /v1/traces`` with ``x-mlflow-experiment-id`` and ``x-mlflow-run-id``
  (:func:`~otel_mlflow.export.mlflow.server.send_trace`); the server stores and links them.
- **A database store in process** (sqlite, PostgreSQL...): what the server's handler does, there being no public
  API for OTel spans: ``mlflow.entities.span.Span.from_otel_proto(span, location_id=experiment_id)`` for each
  span of the OTLP encoding, ``mlflow.tracing.client.TracingClient(uri).log_spans(experiment_id, spans)``, then
  the public ``MlflowClient.link_traces_to_run`` (at most 100 ids a call). Logging the same spans again leaves one
  trace (a replay after a crash writes nothing twice). The writer process does this in a helper process of its own
  (:mod:`.trace_process`: :func:`store_request` there).
- **The file store** (``./mlruns``) cannot hold traces: :class:`LinkRefused`, and the writer stops trying.

When MLflow stores a trace whose LLM spans name a provider, it prices them from its model catalog, which it first
downloads from GitHub (``MLFLOW_MODEL_CATALOG_URI``): without internet, ~14 s of retries on a writer's first trace.
Nobody asked for that download, so where the user has not set ``MLFLOW_MODEL_CATALOG_URI`` our processes set it
empty (:func:`bundled_model_catalog`): MLflow then prices from the catalog bundled in the package it installed.

Feedback (:mod:`otel_mlflow.mapping.feedback`) becomes MLflow's public ``Feedback`` assessment through
``TracingClient(uri).log_assessment`` (what ``mlflow.log_feedback`` does, with an explicit URI instead of the global
one); the MLflow trace id comes from MLflow's own derivation from the OTel trace id, never built here.

Usage::

    traces = MLflowTraces(tracking_uri, headers=auth_headers(config))
    ids = traces.log(client, experiment_id, run_id, spans)     # MLflow trace ids (in process), or [] (server)
    traces.log_feedback(note, experiment_id)                   # TraceNotStored while the trace is on its way
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow import attributes as A
from otel_mlflow.config import is_server_uri
from otel_mlflow.export.mlflow.server import LinkRefused, send_trace
from otel_mlflow.export.mlflow.trace_process import TraceProcess
from otel_mlflow.mapping.feedback import FeedbackNote


class TraceNotStored(Exception):
    """Feedback names a trace MLflow does not have yet: retried (the writer's backoff) until the job's deadline."""


LINK_BATCH = 100
"""``link_traces_to_run`` takes at most this many trace ids a call."""
TRACES_PER_CALL = 50
"""Traces stored per MLflow call: a server's /v1/traces answers 50 in about a second (17-46 ms a trace measured
with MLflow 3.17.2 on sqlite), well inside the 10 s timeout; at most ``LINK_BATCH``."""


MODEL_CATALOG_ENV = "MLFLOW_MODEL_CATALOG_URI"


def bundled_model_catalog() -> None:
    """MLflow's bundled model catalog, not a download from GitHub, unless the user set ``MLFLOW_MODEL_CATALOG_URI``
    (to a mirror, a ``file://`` copy, or the GitHub URL itself): inherited by the trace helper process too."""
    os.environ.setdefault(MODEL_CATALOG_ENV, "")


def trace_chunks(spans: Sequence[ReadableSpan], per_chunk: int) -> list[list[ReadableSpan]]:
    """``spans`` grouped by trace, ``per_chunk`` traces a group, in the order the traces first appear."""
    traces: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        traces.setdefault(span.context.trace_id if span.context is not None else 0, []).append(span)
    groups = list(traces.values())
    return [[span for trace in groups[i : i + per_chunk] for span in trace] for i in range(0, len(groups), per_chunk)]


def store_request(
    tracking_uri: str | None, tracing: Any, client: Any, experiment_id: str, run_id: str, request: Any
) -> list[str]:
    """An OTLP ``ExportTraceServiceRequest`` stored in a database store as MLflow traces of ``experiment_id`` linked to
    ``run_id`` (here, or in the helper process of :mod:`.trace_process`); their MLflow ids."""
    from mlflow.entities.span import Span

    mlflow_spans = [
        Span.from_otel_proto(span, location_id=experiment_id, resource=resource_spans.resource)
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    try:
        tracing.log_spans(experiment_id, mlflow_spans)
    except NotImplementedError:
        raise LinkRefused(
            f"the tracking store {tracking_uri or './mlruns'} cannot hold traces; use a "
            "database store such as sqlite:///mlflow.db"
        ) from None
    ids = sorted({span.trace_id for span in mlflow_spans})
    for start in range(0, len(ids), LINK_BATCH):
        client.link_traces_to_run(ids[start : start + LINK_BATCH], run_id)
    return ids


class MLflowTraces:
    """Stores spans as traces in the tracking store of ``tracking_uri``; one per writer. ``helper``: a database
    store's writes go through a :class:`~.trace_process.TraceProcess` (the writer process does this)."""

    def __init__(
        self, tracking_uri: str | None, headers: dict[str, str] | None = None, helper: TraceProcess | None = None
    ) -> None:
        bundled_model_catalog()
        self.tracking_uri = tracking_uri
        self._headers = headers or {}
        self._tracing_client: Any = None
        self._helper = helper

    def log(
        self,
        client: Any,
        experiment_id: str,
        run_id: str,
        spans: Sequence[ReadableSpan],
        done: int = 0,
        on_chunk: Callable[[int], None] | None = None,
    ) -> list[str]:
        """Store ``spans`` (any number of traces) in ``experiment_id``, linked to ``run_id``, at most
        ``TRACES_PER_CALL`` traces a call (one call of hundreds of traces outlasts any timeout: MLflow stores a
        trace in milliseconds). Chunks before ``done`` landed already; ``on_chunk(n)`` is told after each one (a
        retry resumes there). Raises :class:`LinkRefused` when the store cannot hold traces; anything else is
        worth a retry."""
        ids: list[str] = []
        for index, chunk in enumerate(trace_chunks(spans, TRACES_PER_CALL)):
            if index >= done:
                ids += self._log_chunk(client, experiment_id, run_id, chunk)
                if on_chunk is not None:
                    on_chunk(index + 1)
        return ids

    def _log_chunk(self, client: Any, experiment_id: str, run_id: str, spans: Sequence[ReadableSpan]) -> list[str]:
        if self.tracking_uri and is_server_uri(self.tracking_uri):
            send_trace(self.tracking_uri, spans, experiment_id, run_id, self._headers)
            return []
        request = encode_spans(spans)
        if self._helper is not None:
            return self._helper.store(self.tracking_uri, experiment_id, run_id, request.SerializeToString())
        return store_request(self.tracking_uri, self._tracing(), client, experiment_id, run_id, request)

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()

    def mlflow_trace_id(self, note: FeedbackNote, experiment_id: str) -> str:
        """The MLflow id of the trace ``note`` names: as given when it is an MLflow id, else derived from the OTel
        id by MLflow's own function for the path this writer stores traces by (a server's ``/v1/traces``:
        ``tr-<hex>``; in process with the experiment as location: ``trace:/<experiment id>/<hex>``)."""
        otel_id = note.otel_trace_id
        return note.trace_id if otel_id is None else self.trace_id_of(f"{otel_id:032x}", experiment_id)

    def trace_id_of(self, otel_hex: str, experiment_id: str) -> str:
        """The MLflow id of the trace with OTel id ``otel_hex`` (32 hex digits), as this writer stores it."""
        otel_id = int(otel_hex, 16)
        from mlflow.tracing.utils import (
            generate_mlflow_trace_id_from_otel_trace_id,
            generate_trace_id_v4_from_otel_trace_id,
        )

        if self.tracking_uri and is_server_uri(self.tracking_uri):
            return generate_mlflow_trace_id_from_otel_trace_id(otel_id)
        return generate_trace_id_v4_from_otel_trace_id(otel_id, experiment_id)

    def log_feedback(self, note: FeedbackNote, experiment_id: str) -> None:
        """``note`` as a feedback assessment (MLflow's ``Feedback``, source HUMAN) on its trace, once: an assessment
        whose metadata carries the same key is already there after a crash. Raises :class:`TraceNotStored` while
        MLflow does not have the trace (worth a retry: it may be on its way)."""
        from mlflow.entities import AssessmentSource, AssessmentSourceType, Feedback
        from mlflow.exceptions import MlflowException

        trace_id = self.mlflow_trace_id(note, experiment_id)
        try:
            info = self._tracing().get_trace_info(trace_id)
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                raise TraceNotStored(f"MLflow has no trace {trace_id} (yet) for feedback {note.key}") from None
            raise
        if any((a.metadata or {}).get(A.ASSESSMENT_KEY) == note.key for a in info.assessments or ()):
            return
        source = AssessmentSource(source_type=AssessmentSourceType.HUMAN, source_id=note.user or "anonymous")
        feedback = Feedback(
            name=note.name,
            value=note.value,
            source=source,
            rationale=note.comment,
            metadata={A.ASSESSMENT_KEY: note.key},
        )
        self._tracing().log_assessment(trace_id, feedback)

    def _tracing(self) -> Any:
        if self._tracing_client is None:
            from mlflow.tracing.client import TracingClient

            self._tracing_client = TracingClient(self.tracking_uri)
        return self._tracing_client
