"""Send a run's spans to the MLflow server's own OTLP endpoint, so the run's page lists its traces.

MLflow servers (3.6+, SQL backend store) ingest OTLP at ``POST /v1/traces`` with the header
``x-mlflow-experiment-id``, and link the traces to a run given ``x-mlflow-run-id``. With
``OTEL_MLFLOW_LINK_TRACES=true`` and an ``http(s)://`` tracking URI, the writer does that after it writes
each run. Credentials follow MLflow's own variables: ``MLFLOW_TRACKING_TOKEN`` (bearer) or
``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD`` (basic).
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
TRACES_PATH = "/v1/traces"


class LinkRefused(Exception):
    """The server answered with a 4xx/501: it cannot take OTLP traces (a retry will not help)."""


def is_server(tracking_uri: str | None) -> bool:
    return bool(tracking_uri) and str(tracking_uri).startswith(("http://", "https://"))


def server_url(tracking_uri: str, path: str = "") -> str:
    """``tracking_uri`` without ``user:password@`` (urllib cannot use it), plus ``path``."""
    parts = urllib.parse.urlsplit(tracking_uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "", ""))


def traces_url(tracking_uri: str | None) -> str | None:
    """The server's OTLP traces URL, or None when the tracking URI is not an MLflow server."""
    if not tracking_uri or not is_server(tracking_uri):
        return None
    return server_url(tracking_uri, TRACES_PATH)


def auth_headers(tracking_uri: str | None = None) -> dict[str, str]:
    """MLflow's credentials as a header: MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD, or the URI's."""
    if tracking_uri:
        parts = urllib.parse.urlsplit(tracking_uri)
        if parts.username and parts.password:
            pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password)}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    return {}


def send_trace(tracking_uri: str, spans: Sequence[ReadableSpan], experiment_id: str, run_id: str,
               timeout: float = 10.0) -> None:  # fmt: skip
    """POST ``spans`` as OTLP protobuf; raises :class:`LinkRefused` for a 4xx/501, OSError when down."""
    url = server_url(tracking_uri, TRACES_PATH)
    body = encode_spans(spans).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: experiment_id, RUN_HEADER: run_id,
               **auth_headers(tracking_uri)}  # fmt: skip
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - the user's tracking URI
            return
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 or exc.code == 501:
            raise LinkRefused(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None
        raise
