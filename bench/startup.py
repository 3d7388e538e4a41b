"""Start-up time of an app under `opentelemetry-instrument`: the mlflow exporter vs the console one."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

APP = "import fastapi, uvicorn; from opentelemetry import trace; trace.get_tracer('x').start_span('s').end()"


def startup_seconds(exporter: str, repeats: int) -> float:
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    env.update(
        {
            "OTEL_TRACES_EXPORTER": exporter,
            "OTEL_MLFLOW_LOG_SPANS": "false",
            "MLFLOW_TRACKING_URI": "sqlite:////tmp/otel-mlflow-bench-startup.db",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
    )
    times = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        # OTEL_SDK_DISABLED is not set: the SDK, distro and every instrumentor load as in production.
        # The span is never exported before exit is reached, so this measures start-up, not MLflow writes.
        # No pipes: a writer process started for a file an earlier run left would hold them open while it drains.
        subprocess.run(
            [str(instrument), sys.executable, "-c", APP + "; import os; os._exit(0)"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])  # the first run warms the disk cache
