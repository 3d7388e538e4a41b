"""``otel-mlflow receive``'s OTLP/HTTP transport: uvicorn serving :mod:`.http_app` on a thread of its own.

Put it behind an OpenTelemetry Collector (``otlphttp`` exporter, ``endpoint: http://<host>:4319``)::

    otel-mlflow receive                       # 127.0.0.1:4319, POST /v1/traces, GET /health
    otel-mlflow receive --host 0.0.0.0 --token "$OTEL_MLFLOW_RECEIVER_TOKEN"

In code (tests, embedding)::

    receiver = Receiver(ReceiverSettings(port=0), exporter).start()
    receiver.url                              # http://127.0.0.1:<port>
    receiver.stop()                           # stop serving, then write everything accepted to MLflow

Why uvicorn: a kept ASGI server that does HTTP/1.1 in full (chunked request bodies, keep-alive, ``Expect:
100-continue``, h11's header size bound), with asyncio so that idle or slow connections cost no thread. What it
does not enforce is added without touching its internals: connection deadlines and a connection cap
(:mod:`.connection_guard`), the body's deadline and size bound while it streams (:mod:`.http_app`). Answers and
memory bounds are described in :mod:`.http_app` and :mod:`.intake`. A 200 is sent only once every span of the
request is in the exporter's durable spool: a request is taken whole or refused whole, never half.

Environment: ``OTEL_MLFLOW_RECEIVER_HOST`` (127.0.0.1), ``OTEL_MLFLOW_RECEIVER_PORT`` (4319),
``OTEL_MLFLOW_RECEIVER_TOKEN`` (unset: no auth), ``OTEL_MLFLOW_RECEIVER_MAX_BODY_BYTES`` (16 MiB),
``OTEL_MLFLOW_RECEIVER_MAX_SPANS`` (50,000), ``OTEL_MLFLOW_RECEIVER_READ_TIMEOUT`` (30 s),
``OTEL_MLFLOW_RECEIVER_MAX_CONNECTIONS`` (1,000), and every exporter setting of :mod:`otel_mlflow.config`.
"""

from __future__ import annotations

import logging
import resource
import socket
import threading
import time

import uvicorn

from otel_mlflow.config import ReceiverSettings
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.scrub import get_logger
from otel_mlflow.serve.connection_guard import ConnectionGuard
from otel_mlflow.serve.http_app import HEALTH_PATH, TRACES_PATH, OTLPHttpApp
from otel_mlflow.serve.intake import Intake

_logger = get_logger(__name__)
__all__ = ["HEALTH_PATH", "TRACES_PATH", "Receiver"]
BACKLOG = 2048
"""Connections the kernel queues before they are accepted: a burst of clients waits instead of being refused."""
GRACE_SECONDS = 5
"""On stop, requests under way get this long to finish."""


class Receiver:
    """The OTLP/HTTP server; the socket is bound on construction (``OSError`` if it cannot be)."""

    def __init__(self, settings: ReceiverSettings, exporter: MLflowSpanExporter) -> None:
        self.settings = settings
        self.exporter = exporter
        self.intake = Intake(exporter, settings)
        self.guard = ConnectionGuard(
            settings.read_timeout, connection_cap(settings.max_connections), settings.max_connections_per_client
        )
        self.app = OTLPHttpApp(self.intake, self.guard)
        self.socket = _listen(settings.host, settings.port)
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                http=self.guard.protocol,  # type: ignore[arg-type]  # a protocol factory: uvicorn calls it
                lifespan="off",
                ws="none",
                loop="asyncio",
                proxy_headers=False,
                timeout_keep_alive=max(1, round(settings.read_timeout)),
                backlog=BACKLOG,
                timeout_graceful_shutdown=GRACE_SECONDS,
                log_config=None,
                log_level="error",
                access_log=False,
                server_header=False,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> Receiver:
        """Serve on a thread; returns once the server takes connections."""
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="otel-mlflow-receiver", daemon=True
        )
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            time.sleep(0.01)
        if not self.server.started:
            raise OSError(f"the OTLP/HTTP server did not start on {self.url}")
        return self

    def serve_forever(self) -> None:
        """Serve until :meth:`shutdown` (from a signal handler, say); returns once the server has stopped."""
        if self._thread is None:
            self.start()
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def shutdown(self) -> None:
        """Ask the server to stop (safe from any thread or signal handler); :meth:`serve_forever` then returns."""
        self.server.should_exit = True

    def stop(self, flush: bool = True) -> None:
        """Stop accepting requests, then (by default) write everything accepted to MLflow."""
        self.shutdown()
        if self._thread is not None:
            self._thread.join()
        self.socket.close()
        self.app.close()
        if flush:
            self.exporter.shutdown()

    @property
    def stats(self) -> dict[str, int]:
        """Requests, accepted and rejected spans, refused requests (every transport of this intake), connections."""
        return self.app.stats


class _OncePerMinute(logging.Filter):
    """Lets through one of asyncio's "socket.accept() out of system resource" records a minute (it logged 432,382
    tracebacks in 100 s when a client held the receiver's file descriptors)."""

    def __init__(self) -> None:
        super().__init__()
        self._next = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("socket.accept() out of system resource"):
            return True
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + 60
        return True


_ACCEPT_ERRORS = _OncePerMinute()
logging.getLogger("asyncio").addFilter(_ACCEPT_ERRORS)  # only this one message of asyncio's is rate-limited
FILE_HEADROOM = 256
"""Open files kept free of connections: the spool, MLflow's client and store, gRPC, logs."""


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (the common soft 1,024 is below the 1,000
    connections the receiver takes, plus its own files); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:  # a container may forbid it: the cap below still keeps headroom
            _logger.warning("otel-mlflow receiver could not raise its open-file limit from %d: %s", soft, exc)
    return soft


def connection_cap(wanted: int) -> int:
    """``wanted`` connections, or fewer when the open-file limit leaves less than :data:`FILE_HEADROOM` beside them
    (a connection past the limit would cost the spool its file descriptors), with one warning naming the fix."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY or wanted + FILE_HEADROOM <= soft:
        return wanted
    cap = max(1, soft - FILE_HEADROOM)
    _logger.warning(
        "otel-mlflow receiver takes %d connections, not %d: the open-file limit is %d (raise it: ulimit -n)",
        cap, wanted, soft,
    )  # fmt: skip
    return cap


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv4 or IPv6, as the host resolves)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock
