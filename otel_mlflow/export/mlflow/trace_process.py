"""MLflow traces stored from a helper process, for the writer process's trace lane (issue 27).

Storing a trace in a database store is ~5 ms of Python in MLflow's SQLAlchemy store. In the writer process that
work shared one GIL with planning and the run lane, while the machine's other core idled: the trace lane got a
third of MLflow's raw pace. Here the trace-lane thread hands each chunk (the OTLP request, bytes) to a helper
process and waits on a pipe, the GIL free; the helper stores it as :func:`~.traces.store_request` does in process.

Usage (one per trace-lane thread; :class:`~.traces.MLflowTraces` does this when given one)::

    helper = TraceProcess()
    ids = helper.store(tracking_uri, experiment_id, run_id, request.SerializeToString())
    helper.close()

The helper is started (``spawn``: no copy of the writer's threads) at the first chunk and again after it died or
outlasted :data:`CHUNK_TIMEOUT_SECONDS` (then killed): that chunk's write is retried by the writer, and storing the
same spans twice leaves one trace. It exits when its pipe closes (the writer exited, or was killed). Errors come
back as :class:`~.server.LinkRefused`, :class:`~.server.PermanentWriteError` (a retry cannot fix it), or
``RuntimeError`` naming the original (worth a retry). ``multiprocessing`` (standard library) rather than a
``ProcessPoolExecutor``: a hung worker of a pool cannot be killed through its public API.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from typing import Any

from otel_mlflow.export.mlflow.server import LinkRefused, PermanentWriteError, is_permanent

CHUNK_TIMEOUT_SECONDS = 300.0
"""A chunk the helper has not stored in this long: it is killed and the write retried (a chunk takes ~1 s)."""


class TraceProcess:
    def __init__(self) -> None:
        self._process: Any = None
        self._conn: Connection | None = None

    def store(self, tracking_uri: str | None, experiment_id: str, run_id: str, request: bytes) -> list[str]:
        """Store ``request`` (a serialized OTLP ``ExportTraceServiceRequest``) as MLflow traces of
        ``experiment_id`` linked to ``run_id``; their MLflow ids. Raises as the in-process path does."""
        conn = self._connection()
        try:
            conn.send((tracking_uri, experiment_id, run_id, request))
            if not conn.poll(CHUNK_TIMEOUT_SECONDS):
                raise TimeoutError(f"the trace helper stored nothing in {CHUNK_TIMEOUT_SECONDS:.0f} s")
            ok, value = conn.recv()
        except (OSError, EOFError, TimeoutError) as exc:
            self.close()
            raise RuntimeError(f"the trace helper process stopped ({exc!r}); the chunk is retried") from None
        if ok:
            return list(value)
        kind, message = value
        raise {"link": LinkRefused, "permanent": PermanentWriteError}.get(kind, RuntimeError)(message)

    def close(self) -> None:
        """Stop the helper (it exits when its pipe closes; killed if it does not within 5 s)."""
        conn, process, self._conn, self._process = self._conn, self._process, None, None
        if conn is not None:
            conn.close()
        if process is not None:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def _connection(self) -> Connection:
        if self._process is not None and not self._process.is_alive():
            self.close()
        if self._conn is None:
            context = multiprocessing.get_context("spawn")
            ours, theirs = context.Pipe()
            self._process = context.Process(target=serve, args=(theirs,), name="otel-mlflow-traces", daemon=True)
            self._process.start()
            theirs.close()
            self._conn = ours
        return self._conn


def serve(conn: Connection) -> None:
    """The helper: stores each chunk it is sent and answers ``(True, ids)`` or ``(False, (kind, message))``."""
    from mlflow import MlflowClient
    from mlflow.tracing.client import TracingClient
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from otel_mlflow.export.mlflow.traces import store_request

    clients: dict[str | None, tuple[Any, Any]] = {}
    while True:
        try:
            tracking_uri, experiment_id, run_id, payload = conn.recv()
        except (EOFError, OSError):
            return  # the writer closed the pipe or is gone
        try:
            if tracking_uri not in clients:
                clients[tracking_uri] = TracingClient(tracking_uri), MlflowClient(tracking_uri=tracking_uri)
            tracing, client = clients[tracking_uri]
            request = ExportTraceServiceRequest.FromString(payload)
            answer: tuple[bool, Any] = (
                True,
                store_request(tracking_uri, tracing, client, experiment_id, run_id, request),
            )
        except LinkRefused as exc:
            answer = (False, ("link", str(exc)))
        except Exception as exc:  # noqa: BLE001 - sent back: the writer decides (retry, or give up when permanent)
            answer = (False, ("permanent" if is_permanent(exc) else "retry", f"{type(exc).__name__}: {exc}"))
        try:
            conn.send(answer)
        except (OSError, EOFError):
            return
