from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from otel_mlflow import MLflowSpanExporter
from otel_mlflow.config import Config, ReceiverSettings
from otel_mlflow.serve.receiver import Receiver
from tests.fake_openai import chat_server, judge_server  # noqa: F401 (fixtures of every test module)
from tests.helpers import SpanRecorder, Store, make_store


@pytest.fixture(scope="session", autouse=True)
def _work_outside_the_checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """MLflow's defaults (./mlflow.db, ./mlruns) are relative to the working directory: keep them out of
    the checkout, so a test that forgets its store cannot leave runs behind for `make demo`."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cwd"))
    try:
        yield
    finally:
        os.chdir(previous)


FAST_TIER = "OTEL_MLFLOW_FAST_TESTS"
"""Set by `make test-fast` (and `make test`'s first half): a test that starts a process there is missing its mark."""


@pytest.fixture(autouse=True)
def _no_process_in_the_fast_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make test-fast` runs pure and in-process tests only: starting a process fails the test, naming the mark."""
    if not os.environ.get(FAST_TIER):
        return
    import subprocess

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("this test starts a process: mark it @pytest.mark.subprocess (or server)")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(autouse=True)
def _own_cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Spools of server URIs default to the per-user cache: give each test its own, so a test that leaves
    spans spooled (on purpose) never replays them into another test's server on a reused port."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def recorder() -> SpanRecorder:
    return SpanRecorder()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return make_store(tmp_path / "store")


@pytest.fixture
def make_exporter(store: Store) -> Iterator[object]:
    """Build exporters writing into ``store``; every one is shut down after the test."""
    made: list[MLflowSpanExporter] = []

    def factory(**settings: object) -> MLflowSpanExporter:
        values: dict[str, object] = {
            "tracking_uri": store.uri,
            "artifact_location": str(store.artifacts),
            "flush_interval": 0.05,
            "run_mode": "trace",  # tests of windows ask for them
        }
        values.update(settings)
        exporter = MLflowSpanExporter(config=Config.from_env(env={}, **values))
        made.append(exporter)
        return exporter

    yield factory
    for exporter in made:
        exporter.shutdown()


@pytest.fixture
def start_receiver(make_exporter: Any) -> Iterator[Any]:
    """Start in-process receivers on a free loopback port, each with its own exporter; stopped after the test."""
    started: list[Receiver] = []

    def start(
        token: str | None = None,
        max_body_bytes: int = 1 << 20,
        receiver: dict[str, Any] | None = None,
        **exporter_settings: Any,
    ) -> Receiver:
        """``receiver``: more ReceiverSettings (read_timeout, max_connections...)."""
        exporter = make_exporter(**exporter_settings)
        settings = ReceiverSettings(
            host="127.0.0.1", port=0, token=token, max_body_bytes=max_body_bytes, **(receiver or {})
        )
        started.append(Receiver(settings, exporter).start())
        return started[-1]

    yield start
    for receiver in started:
        receiver.stop()
