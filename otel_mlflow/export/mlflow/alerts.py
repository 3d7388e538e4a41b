"""A breaching window's alert, posted as JSON to ``OTEL_MLFLOW_ALERT_WEBHOOK`` by a thread of its own: never a
request thread, and never a writer thread waiting on a slow webhook. Retried with backoff on connection errors and
5xx answers; a 4xx answer is not retried (the webhook refuses it); each breach also counts on the OTel counter
``otel_mlflow.slo.breaches`` (attribute ``service``). The standard library's ``urllib`` posts: one JSON POST needs
no HTTP library of its own. Usage::

    alerts = alert_sender(config)            # one per webhook and process; None without a webhook
    alerts.send(payload)                     # queued at once; dropped and counted when 100 wait
    alerts.flush(timeout=5)                  # at exit
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from opentelemetry import metrics

from otel_mlflow.config import Config
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0)
"""Waits between attempts: 6 attempts over about 15 s."""
MAX_WAITING = 100
TIMEOUT_SECONDS = 10.0
BREACHES_COUNTER = "otel_mlflow.slo.breaches"
_senders: dict[str, AlertSender] = {}
_senders_lock = threading.Lock()


class AlertSender:
    def __init__(self, url: str) -> None:
        self.url = url
        self.sent = self.failed = self.dropped = 0
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(MAX_WAITING)
        self._counter = metrics.get_meter("otel_mlflow").create_counter(
            BREACHES_COUNTER, unit="{window}", description="windows that breached an objective (OTEL_MLFLOW_SLO)"
        )
        threading.Thread(target=self._run, name="otel-mlflow-alerts", daemon=True).start()

    def send(self, payload: dict[str, Any]) -> None:
        self._counter.add(1, {"service": str(payload.get("service", ""))})
        try:
            self._queue.put_nowait(payload)
        except queue.Full:
            self.dropped += 1
            _logger.warning("otel-mlflow: %d alerts wait for %s already; this one is dropped", MAX_WAITING, self.url)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the alerts queued so far; False if some are still on their way."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self._queue.unfinished_tasks

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                self._post(payload)
            finally:
                self._queue.task_done()

    def _post(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str).encode()
        for attempt, wait in enumerate((*BACKOFF_SECONDS, None), start=1):
            request = urllib.request.Request(self.url, data=body, headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
                    self.sent += 1
                    return
            except urllib.error.HTTPError as exc:
                if exc.code < 500:  # the webhook refuses it: retrying cannot help
                    return self._give_up(f"answered {exc.code}")
                why = f"answered {exc.code}"
            except (OSError, ValueError) as exc:
                why = str(exc)
            if wait is None:
                return self._give_up(f"{why}, after {attempt} attempts")
            time.sleep(wait)

    def _give_up(self, why: str) -> None:
        self.failed += 1
        _logger.warning("otel-mlflow: an SLO alert could not be posted to the webhook: %s", why)


def alert_sender(config: Config) -> AlertSender | None:
    """The process's sender for ``config.alert_webhook`` (shared by the writer threads), or None."""
    if not config.alert_webhook:
        return None
    with _senders_lock:
        if config.alert_webhook not in _senders:
            _senders[config.alert_webhook] = AlertSender(config.alert_webhook)
        return _senders[config.alert_webhook]
