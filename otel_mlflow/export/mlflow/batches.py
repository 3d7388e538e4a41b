"""The ``log_batch`` calls of one write, several in flight against a server.

An MLflow server answers requests in parallel (threads, and ``--workers`` processes): while it stores one batch,
the next one is built and sent. Usage (the writer does this)::

    log_batches(client, run_id, [(0, batch0), (1, batch1)], in_flight=2, landed=lambda i, b: done.add(i))

Each batch that lands is reported through ``landed`` (from any of the threads, one at a time); after a failure no
new batch is started, and the first failure is raised once the ones in flight are done, so a retry sends only what
did not land. The helper threads are daemons: a call stuck when the process exits never holds it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from otel_mlflow.mapping.limits import Batch

BATCHES_IN_FLIGHT = 2
"""``log_batch`` calls of one write sent at once to a server (each up to 1,000 metrics)."""


def log_batches(
    client: Any, run_id: str, batches: Sequence[tuple[int, Batch]], in_flight: int, landed: Callable[[int, Batch], None]
) -> None:
    """Send ``batches`` (index, batch) to ``run_id``, at most ``in_flight`` at a time."""
    lock = threading.Lock()
    todo = iter(batches)
    failures: list[Exception] = []

    def work() -> None:
        while True:
            with lock:
                index, batch = next(todo, (None, None)) if not failures else (None, None)
            if index is None or batch is None:
                return
            try:
                _send(client, run_id, batch)
            except Exception as exc:  # noqa: BLE001 - raised by the caller's thread once the others are done
                with lock:
                    failures.append(exc)
                continue
            with lock:
                landed(index, batch)

    helpers = [
        threading.Thread(target=work, name="otel-mlflow-batch", daemon=True)
        for _ in range(min(in_flight, len(batches)) - 1)
    ]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    if failures:
        raise failures[0]


def _send(client: Any, run_id: str, batch: Batch) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client.log_batch(
        run_id,
        metrics=[Metric(k, v, ts, step) for k, v, ts, step in batch.metrics],
        params=[Param(k, v) for k, v in batch.params],
        tags=[RunTag(k, v) for k, v in batch.tags],
        synchronous=True,
    )
