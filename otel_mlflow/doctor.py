"""``otel-mlflow doctor``: what otel-mlflow would do here, and what stands in its way.

    otel-mlflow doctor [--receiver-port 4319]

Prints every setting resolved (from the environment, else its default; credentials masked), then checks, each with
the fix when it fails:
the tracking store answers; the experiment exists (or will be created on the first write); an MLflow
server accepts OTLP at ``/v1/traces`` (needed for linked traces and the Collector's MLflow exporter);
the receiver's port is free; the spool folder can be written, and how many spans wait in it (left by
stopped or killed processes: ``otel-mlflow drain`` writes them). Exits 1 when a check fails, 0 otherwise.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

from otel_mlflow.config import DEFAULT_TRACKING_URI, Config, ConfigError, is_server_uri
from otel_mlflow.config.settings import SETTINGS
from otel_mlflow.export.mlflow.server import (
    EXPERIMENT_HEADER,
    auth_headers,
    healthy,
    make_client,
    traces_url,
)
from otel_mlflow.scrub import default_scrubber

_TIMEOUT = 5.0
T = TypeVar("T")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def mask_uri(uri: str) -> str:
    """``http://user:p@ss@host/?token=t`` -> ``http://user:[redacted]@host/?token=[redacted]``."""
    return default_scrubber().text(uri)


class _ScrubbedOut:
    """Every line the report prints passes the scrubber (details quote URIs and error messages)."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(default_scrubber().text(text))

    def flush(self) -> None:
        self._out.flush()


def run(out: TextIO = sys.stdout, receiver_port: int = 4319) -> int:
    """Print the report to ``out``; return the exit status."""
    out = _ScrubbedOut(out)  # type: ignore[assignment]
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"FAIL configuration: {exc}", file=out)
        return 1
    print("otel-mlflow settings (from the environment, else the default)", file=out)
    for line in settings_lines(os.environ):
        print(line, file=out)
    print("checks", file=out)
    failed = 0
    for check in _checks(config, receiver_port):
        failed += not check.ok
        print(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}", file=out)
        if check.fix and not check.ok:
            print(f"       fix: {check.fix}", file=out)
    print("all checks passed" if not failed else f"{failed} check(s) failed", file=out)
    return 1 if failed else 0


def settings_lines(env: Mapping[str, str]) -> Iterator[str]:
    """One line per setting: its variable and value as read from ``env`` (a secret only as ``*** (set)``), or
    its default; the report's output passes the scrubber as well."""
    width = max(len(row) for row in SETTINGS)
    for row in SETTINGS:
        try:
            value = row.read({}, env)
        except ConfigError as exc:
            shown = f"(refused: {exc})"
        else:
            if value is None:
                default = row.default_doc.replace("`", "")
                shown = default if default.startswith("unset") else f"default: {default}"
            elif row.secret:
                shown = "*** (set)"
            else:
                shown = ",".join(value) if isinstance(value, tuple) else str(value)
        yield f"  {row.env:<{width}} {shown}"


def _checks(config: Config, receiver_port: int) -> Iterator[Check]:
    store = _store_check(config)
    yield store
    if store.ok and not _missing_sqlite_file(config):
        yield _experiment_check(config)
    url = traces_url(config.tracking_uri)
    if url and store.ok:
        yield _traces_check(url, config)
    yield _port_check(receiver_port)
    if config.spool:
        yield _spool_check(config)


def _spool_check(config: Config) -> Check:
    """Reads the folder only: doctor never creates a spool (nor anything else) where it runs."""
    from otel_mlflow.export.spool.folder import TRACE_LANE_SPANS, spool_folder, spooled_spans

    folder = spool_folder(config)
    parent = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if parent is None or not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return Check(
            "spool",
            False,
            f"{folder} cannot be made: spans would be kept in memory only",
            "set OTEL_MLFLOW_SPOOL_DIR to a writable folder",
        )
    waiting = spooled_spans(folder) if folder.is_dir() else 0
    traces = spooled_spans(folder, TRACE_LANE_SPANS) if waiting else 0
    detail = f"{folder}: {waiting} span(s) waiting"
    detail += f", {traces} of them for their MLflow trace only" if traces else ""
    detail += " (write them: otel-mlflow drain)" if waiting else ""
    return Check("spool", True, detail)


def _store_check(config: Config) -> Check:
    uri = config.tracking_uri or DEFAULT_TRACKING_URI
    shown = mask_uri(uri)
    if is_server_uri(uri) and not healthy(uri, _TIMEOUT):
        return Check(
            "tracking store",
            False,
            f"{shown} does not answer GET /health with 200",
            "start it (`mlflow server --host 127.0.0.1 --port 5000`), check the host and port in "
            "MLFLOW_TRACKING_URI, or unset MLFLOW_TRACKING_URI to use ./mlflow.db",
        )
    missing = _missing_sqlite_file(config)
    if missing is not None:  # querying would create it: doctor changes nothing on disk
        return Check("tracking store", True, f"{missing} does not exist yet; the first write creates it")
    try:
        _guarded(lambda: _client(config).search_experiments(max_results=1))
    except Exception as exc:  # noqa: BLE001 - every failure is reported, with the URI
        return Check(
            "tracking store",
            False,
            f"{shown} refused a query: {_first_line(exc)}",
            "check MLFLOW_TRACKING_URI and its credentials (MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN)",
        )
    return Check("tracking store", True, f"{shown} answers")


def _missing_sqlite_file(config: Config) -> Path | None:
    """The file of a sqlite tracking URI when it does not exist yet (MLflow would create it on first use)."""
    uri = config.tracking_uri or DEFAULT_TRACKING_URI
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri[len("sqlite:///") :].split("?", 1)[0])
    return None if path.exists() or str(path) == ":memory:" else path


def _experiment_check(config: Config) -> Check:
    try:
        experiment = _guarded(lambda: _client(config).get_experiment_by_name(config.experiment_name))
    except Exception as exc:  # noqa: BLE001
        return Check("experiment", False, _first_line(exc), "check MLFLOW_EXPERIMENT_NAME and your permissions")
    if experiment is None:
        return Check("experiment", True, f"{config.experiment_name!r} does not exist yet; the first write creates it")
    if experiment.lifecycle_stage == "deleted":
        return Check(
            "experiment",
            False,
            f"{config.experiment_name!r} is deleted",
            "restore it in the MLflow UI, or set MLFLOW_EXPERIMENT_NAME to another name",
        )
    return Check("experiment", True, f"{config.experiment_name!r} exists (id {experiment.experiment_id})")


def _traces_check(url: str, config: Config) -> Check:
    """POST an empty OTLP request: it writes nothing. A server that ingests OTLP answers 200, or 400
    "no spans found" (MLflow 3.x); an older server answers 404, a store without OTLP support 501."""
    request = urllib.request.Request(
        url,
        data=b"",
        method="POST",
        headers={"Content-Type": "application/x-protobuf", EXPERIMENT_HEADER: "0", **auth_headers(config)},
    )
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT):
            return Check(
                "/v1/traces",
                True,
                f"{url} accepts OTLP traces (linked traces and the Collector's MLflow exporter will work)",
            )
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode("utf-8", "replace")
        if exc.code == 400 and "no spans" in detail.lower():
            return Check(
                "/v1/traces",
                True,
                f"{url} accepts OTLP traces (linked traces and the Collector's MLflow exporter will work)",
            )
        return Check(
            "/v1/traces",
            False,
            f"{url} answered {exc.code}",
            "use MLflow 3.6+ with a SQL backend store (--backend-store-uri postgresql://... or sqlite:///...)"
            ", or leave OTEL_MLFLOW_LINK_TRACES off",
        )
    except OSError as exc:
        return Check("/v1/traces", False, f"{url}: {exc}", "check that the MLflow server is reachable")


def _port_check(port: int) -> Check:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return Check(
                "receiver port",
                False,
                f"127.0.0.1:{port} is in use",
                f"stop what listens there (`ss -ltnp | grep :{port}`) or run "
                f"`otel-mlflow receive --port <another>` and point the Collector at it",
            )
    return Check("receiver port", True, f"127.0.0.1:{port} is free for `otel-mlflow receive`")


def _client(config: Config) -> Any:
    return make_client(config.tracking_uri)


def _guarded(call: Callable[[], T]) -> T:
    """Run an MLflow call with MLflow's HTTP retries off, so a dead server fails in seconds, not minutes."""
    saved = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(int(_TIMEOUT))
    try:
        return call()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
