"""Everything about reaching MLflow, in one place: clients, ``/health``, experiments, errors, ``/v1/traces``.

Used by the writer, ``init_mlflow``, the doctor, the model registry helpers and the pytest plugin::

    from otel_mlflow.export.mlflow import server

    server.set_process_defaults(uri)               # MLflow's process-wide HTTP bounds (once, at the exporter's start)
    server.require_reachable(uri)                  # MLflowUnavailable within 2 s when a server is down
    client = server.make_client(uri)               # MlflowClient (mlflow imported here, on first use)
    experiment_id = server.get_or_create_experiment(client, "rag", artifact_location=None)
    server.send_trace(uri, spans, experiment_id, run_id, headers)   # OTLP to the server, linked to the run

MLflow servers (3.6+, SQL backend store) ingest OTLP at ``POST /v1/traces`` with the header
``x-mlflow-experiment-id``, and link the traces to a run given ``x-mlflow-run-id``. Credentials follow
MLflow's own variables, read with every other setting (:class:`~otel_mlflow.config.Config`):
``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` (basic), or the URI's
``user:password@`` (:func:`auth_headers`).
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from otel_mlflow.config import ENV_EXPERIMENT_NAME, ENV_TRACKING_URI, Config, is_server_uri
from otel_mlflow.mapping.experiment_tags import experiment_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

EXPERIMENT_HEADER = "x-mlflow-experiment-id"
RUN_HEADER = "x-mlflow-run-id"
TRACES_PATH = "/v1/traces"
HEALTH_PATH = "/health"
PROBE_TIMEOUT = 2.0
SUPPRESS_URL_PRINTING = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
MLFLOW_HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
"""MLflow's own HTTP retries (defaults: 7 retries, factor 2: minutes inside one call), bounded so that
``OTEL_MLFLOW_RETRY_TIMEOUT`` and our backoff decide (:func:`set_process_defaults`)."""


class MLflowUnavailable(ConnectionError):
    """The MLflow server did not answer its health check; the write is retried later."""


class PermanentWriteError(Exception):
    """MLflow refused the write for a reason a retry cannot fix (bad request, missing run, deleted experiment)."""


class LinkRefused(Exception):
    """The server answered with a 4xx/501: it cannot take OTLP traces (a retry will not help)."""


def server_url(tracking_uri: str, path: str = "") -> str:
    """``tracking_uri`` without ``user:password@`` (urllib cannot use it), plus ``path``."""
    parts = urllib.parse.urlsplit(tracking_uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + path, "", ""))


def traces_url(tracking_uri: str | None) -> str | None:
    """The server's OTLP traces URL, or None when the tracking URI is not an MLflow server."""
    if not tracking_uri or not is_server_uri(tracking_uri):
        return None
    return server_url(tracking_uri, TRACES_PATH)


def healthy(url: str, timeout: float) -> bool:
    """True when ``url`` (a server's base URL) answers ``GET /health`` with 200 within ``timeout`` seconds."""
    try:
        with urllib.request.urlopen(server_url(url, HEALTH_PATH), timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def require_reachable(tracking_uri: str | None, timeout: float = PROBE_TIMEOUT) -> None:
    """Raise :class:`MLflowUnavailable` within ``timeout`` seconds when an MLflow server does not answer
    ``/health``; a local store (sqlite, files) always passes."""
    uri = tracking_uri or ""
    if is_server_uri(uri) and not healthy(uri, timeout):
        raise MLflowUnavailable(
            f"MLflow server at {server_url(uri)} is not reachable or not healthy; start it, "
            f"or set {ENV_TRACKING_URI} to a server that is up"
        )


def set_process_defaults(tracking_uri: str | None) -> None:
    """The one step where otel-mlflow sets MLflow's process-wide variables, each only when unset and only for an
    MLflow server: :data:`MLFLOW_HTTP_BOUNDS` (MLflow reads them for every call of the process, the app's own
    included) and ``MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT=true`` (ending a run would print its URL, once per
    trace). The exporter calls it at its start; :func:`make_client` for the helper API's clients."""
    if is_server_uri(tracking_uri):
        for name, value in {**MLFLOW_HTTP_BOUNDS, SUPPRESS_URL_PRINTING: "true"}.items():
            os.environ.setdefault(name, value)


def make_client(tracking_uri: str | None) -> MlflowClient:
    """An ``MlflowClient`` for ``tracking_uri`` (None: MLflow's default), after :func:`set_process_defaults`."""
    from mlflow import MlflowClient

    set_process_defaults(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri)


def get_or_create_experiment(
    client: Any, name: str, artifact_location: str | None, param_fields: Sequence[str] = ()
) -> str:
    """The id of experiment ``name``, created (at ``artifact_location``, with :func:`experiment_tags` naming
    ``param_fields`` as runs-view columns) when missing, also when another process creates it at the same moment;
    :class:`PermanentWriteError` when it is deleted."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            raise PermanentWriteError(
                f"MLflow experiment {name!r} is deleted; restore it or set {ENV_EXPERIMENT_NAME} to another name"
            )
        return str(experiment.experiment_id)
    try:
        tags = experiment_tags(param_fields)  # GenAI views first, and a runs view with our columns
        return str(client.create_experiment(name, artifact_location=artifact_location, tags=tags))
    except Exception:
        experiment = client.get_experiment_by_name(name)  # another process created it meanwhile
        if experiment is None:
            raise
        return str(experiment.experiment_id)


T = TypeVar("T")


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status an MLflow error stands for (None: not an MLflow error, or an odd one)."""
    get_status = getattr(exc, "get_http_status_code", None)
    if get_status is None:
        return None
    try:
        return int(get_status())
    except Exception:  # noqa: BLE001 - an odd exception type says nothing
        return None


def is_permanent(exc: BaseException) -> bool:
    """True for MLflow errors that a retry cannot fix (4xx-class), False for transient ones (and odd ones)."""
    if isinstance(exc, (PermanentWriteError, UnicodeError)):
        return True  # a value MLflow's store cannot encode is refused the same way on every retry
    status = _http_status(exc)
    return status is not None and 400 <= status < 500 and status not in (408, 429)


def is_transient(exc: BaseException) -> bool:
    """Worth a retry: a connection error, or MLflow answering 5xx, 408 or 429 (a locked database is a 5xx); not 501,
    a feature the store does not have (a file store's datasets), nor an odd error."""
    if isinstance(exc, OSError):
        return True
    status = _http_status(exc)
    return status is not None and ((status >= 500 and status != 501) or status in (408, 429))


def unless_lasting(call: Callable[..., T], *args: Any, tell: Callable[[Exception], None]) -> T | None:
    """``call(*args)`` for a write beside the run (evaluation cases, prompt links): a transient error is raised (the
    write is retried), any other is handed to ``tell`` and the write left out (None): it never costs the run."""
    try:
        return call(*args)
    except Exception as exc:
        if is_transient(exc):
            raise
        tell(exc)
        return None


def run_is_missing(exc: BaseException) -> bool:
    """True when MLflow said the run does not exist (a stale ``otel_mlflow.run_id``)."""
    cause: Any = exc.__cause__ or exc
    return getattr(cause, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def auth_headers(config: Config) -> dict[str, str]:
    """MLflow's credentials as a header: the URI's ``user:password@``, else ``MLFLOW_TRACKING_TOKEN``, else
    ``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` (as ``config`` read them)."""
    if config.tracking_uri:
        parts = urllib.parse.urlsplit(config.tracking_uri)
        if parts.username and parts.password:
            pair = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password)}"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    if config.tracking_token:
        return {"Authorization": f"Bearer {config.tracking_token}"}
    user, password = config.tracking_username, config.tracking_password
    if user and password:
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
    return {}


def send_trace(
    tracking_uri: str,
    spans: Sequence[ReadableSpan],
    experiment_id: str,
    run_id: str,
    headers: dict[str, str],
    timeout: float = 10.0,
) -> None:
    """POST ``spans`` as OTLP protobuf (``headers``: :func:`auth_headers`); raises :class:`LinkRefused` for a
    4xx/501, OSError when down."""
    url = server_url(tracking_uri, TRACES_PATH)
    body = encode_spans(spans).SerializeToString()
    headers = {
        "Content-Type": "application/x-protobuf",
        EXPERIMENT_HEADER: experiment_id,
        RUN_HEADER: run_id,
        **headers,
    }
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 or exc.code == 501:
            raise LinkRefused(f"{url} answered {exc.code}: {exc.read()[:300]!r}") from None
        raise


def run_url(config: Config, experiment_id: str, run_id: str) -> str | None:
    """The run in MLflow's UI, for a server (a database store has no URL of its own; credentials never)."""
    uri = config.tracking_uri or ""
    if not is_server_uri(uri):
        return None
    parts = urllib.parse.urlsplit(uri)
    netloc = f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname or "")
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}"
