"""The ``otel-mlflow`` command (also ``python -m otel_mlflow``).

    otel-mlflow receive [--host 127.0.0.1] [--port 4319] [--grpc-port 4320] [--token T] [--max-body-bytes N]
                        [--max-spans N] [--read-timeout S] [--max-connections N] [--max-connections-per-client N]
    otel-mlflow doctor [--receiver-port 4319]
    otel-mlflow drain [--spool-dir DIR]
    otel-mlflow compare --by k [--baseline 2] [--since 24h] [--until T] [--chart out.png] [--no-log]

Exporter settings come from the environment (see :mod:`otel_mlflow.config`). SIGTERM or Ctrl-C stops
accepting requests, writes everything accepted to MLflow, then exits.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from otel_mlflow.compare import command as compare_command
from otel_mlflow.config import (
    ENV_RECEIVER_GRPC_PORT,
    ENV_RECEIVER_HOST,
    ENV_RECEIVER_MAX_BODY_BYTES,
    ENV_RECEIVER_MAX_CONNECTIONS,
    ENV_RECEIVER_MAX_CONNECTIONS_PER_CLIENT,
    ENV_RECEIVER_MAX_SPANS,
    ENV_RECEIVER_PORT,
    ENV_RECEIVER_READ_TIMEOUT,
    ENV_RECEIVER_TOKEN,
    ENV_SPOOL_DIR,
    Config,
    ConfigError,
    ReceiverSettings,
)
from otel_mlflow.export.exporter import MLflowSpanExporter
from otel_mlflow.export.spool.folder import spooled_spans
from otel_mlflow.scrub import get_logger
from otel_mlflow.serve.receiver import TRACES_PATH, Receiver, raise_open_file_limit
from otel_mlflow.sigterm import mark_stopping_on_signal

OPEN_RECEIVER_WARNING = (
    "otel-mlflow receiver listens on %s with no bearer token set: anyone who reaches it can write to MLflow. Set "
    'one: --token "$(openssl rand -hex 16)" (or %s), and the same bearer token in the senders\' headers'
)
"""Worded so the log scrubber leaves it whole ("token: anyone" read as a secret and became "[redacted]")."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-mlflow", description="OpenTelemetry spans into MLflow")
    commands = parser.add_subparsers(dest="command", required=True)
    receive = commands.add_parser("receive", help="OTLP receiver (HTTP POST /v1/traces, and gRPC) writing to MLflow")
    receive.add_argument("--host", help=f"address to bind (default 127.0.0.1; {ENV_RECEIVER_HOST})")
    receive.add_argument("--port", type=int, help=f"OTLP/HTTP port (default 4319; {ENV_RECEIVER_PORT})")
    receive.add_argument(
        "--grpc-port", type=int, help=f"OTLP/gRPC port (default 4320, 0: off; {ENV_RECEIVER_GRPC_PORT})"
    )
    receive.add_argument("--token", help=f"require 'Authorization: Bearer <token>' ({ENV_RECEIVER_TOKEN})")
    receive.add_argument(
        "--max-body-bytes",
        type=int,
        help=f"largest request body, compressed or not (default 16 MiB; {ENV_RECEIVER_MAX_BODY_BYTES})",
    )
    receive.add_argument(
        "--max-spans",
        type=int,
        help=f"most spans in one request; more is a 413 (default 50,000; {ENV_RECEIVER_MAX_SPANS})",
    )
    receive.add_argument(
        "--read-timeout",
        type=float,
        help="seconds an HTTP client has to send a request's headers, "
        f"then its body; idle connections close after it too (default 30; {ENV_RECEIVER_READ_TIMEOUT})",
    )
    receive.add_argument(
        "--max-connections",
        type=int,
        help=f"open HTTP connections; past it, 503 (default 1,000; {ENV_RECEIVER_MAX_CONNECTIONS})",
    )
    receive.add_argument(
        "--max-connections-per-client",
        type=int,
        help=f"connections from one address; past it, 503 (default 100; {ENV_RECEIVER_MAX_CONNECTIONS_PER_CLIENT})",
    )
    receive.add_argument("--log-level", default="INFO")
    doctor = commands.add_parser(
        "doctor",
        help="print the configuration and check the tracking store, experiment, /v1/traces and the receiver port",
    )
    doctor.add_argument(
        "--receiver-port", type=int, help=f"the receiver's port to check (default 4319; {ENV_RECEIVER_PORT})"
    )
    doctor.add_argument("--log-level", default="WARNING")
    drain = commands.add_parser(
        "drain",
        help="write what a spool folder holds (left by stopped or killed "
        "processes) to MLflow, with progress, then exit",
    )
    drain.add_argument(
        "--spool-dir",
        default=None,
        help=f"the spool folder (default: the one of MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_NAME; {ENV_SPOOL_DIR})",
    )
    drain.add_argument("--log-level", default="WARNING")
    compare_command.add_parser(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "receive":
        return _receive(args)
    if args.command == "drain":
        return _drain(args.spool_dir)
    if args.command == "compare":
        return compare_command.run(args)
    if args.command == "doctor":
        from otel_mlflow.doctor import run

        try:
            port = ReceiverSettings.from_env(port=args.receiver_port).port
        except ConfigError as exc:
            print(f"otel-mlflow: {exc}", file=sys.stderr)
            return 2
        return run(receiver_port=port)
    return 2  # pragma: no cover - argparse requires a command


def _receive(args: argparse.Namespace) -> int:
    from otel_mlflow.serve.grpc_receiver import GrpcReceiver  # grpcio: only this command needs it

    try:
        settings = ReceiverSettings.from_env(
            host=args.host,
            port=args.port,
            grpc_port=args.grpc_port,
            token=args.token or None,
            max_body_bytes=args.max_body_bytes,
            max_spans=args.max_spans,
            read_timeout=args.read_timeout,
            max_connections=args.max_connections,
            max_connections_per_client=args.max_connections_per_client,
        )
        exporter = MLflowSpanExporter(config=Config.from_env())
    except ConfigError as exc:
        print(f"otel-mlflow: {exc}", file=sys.stderr)
        return 2
    raise_open_file_limit()  # the one step that changes a process limit: the receiver's own process only
    try:
        receiver = Receiver(settings, exporter)
        grpc_receiver = GrpcReceiver(receiver.intake).start() if settings.grpc_port else None
    except OSError as exc:
        print(
            f"otel-mlflow: cannot listen on {settings.host}: {exc}; choose another --port / --grpc-port "
            "or stop what uses it",
            file=sys.stderr,
        )
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGTERM:
            mark_stopping_on_signal()  # what is not written in 20 s stays spooled for the next start
        receiver.shutdown()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log = get_logger("otel_mlflow")
    log.info(
        "otel-mlflow receiving OTLP/HTTP on %s%s%s (auth: %s), writing to %s experiment %r",
        receiver.url,
        TRACES_PATH,
        f" and OTLP/gRPC on {grpc_receiver.endpoint}" if grpc_receiver else "",
        "bearer token" if settings.token else "none",
        exporter.config.tracking_uri or "MLflow's default store",
        exporter.config.experiment_name,
    )
    if not settings.token and not _is_loopback(settings.host):
        log.warning(OPEN_RECEIVER_WARNING, settings.host, ENV_RECEIVER_TOKEN)
    receiver.serve_forever()
    receiver.stop(flush=False)
    if grpc_receiver is not None:
        grpc_receiver.stop()
    exporter.shutdown()
    stats = exporter.stats
    log.info(
        "stopped: %d spans written, %d dropped",
        stats.spans_written,
        stats.spans_dropped_write_failed + stats.spans_dropped_queue_full,
    )
    return 0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _drain(spool_dir: str | None) -> int:
    """Take over every spool file of the folder whose process is gone and write it; 1 if some is left."""
    try:
        exporter = MLflowSpanExporter(config=Config.from_env(spool_dir=spool_dir, spool=True))
    except ConfigError as exc:
        print(f"otel-mlflow: {exc}", file=sys.stderr)
        return 2
    folder = exporter.spool_folder
    if folder is None:
        print("otel-mlflow: the spool folder cannot be opened; see the warning above", file=sys.stderr)
        return 1
    print(
        f"otel-mlflow: draining {folder} into {exporter.config.tracking_uri or 'MLflow default store'}, "
        f"experiment {exporter.config.experiment_name!r}",
        file=sys.stderr,
    )
    exporter.shutdown()  # takes the dead files over, writes while MLflow makes progress, shows progress
    stats = exporter.stats
    left = spooled_spans(folder)
    print(f"otel-mlflow: {stats.spans_written} span(s) written, {left} left in {folder}", file=sys.stderr)
    return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
