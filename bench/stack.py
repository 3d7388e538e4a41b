"""Requests per second persisted through the whole production topology (scripts/stack.py): app -> Collector ->
``otel-mlflow receive`` -> an MLflow server on PostgreSQL (or sqlite), with one receiver replica or two.

A rate is the requests sent, over the time from the first request until MLflow has every one of them: the apps and
Collectors stopped, the receivers' SIGTERM writes done and what they left in their spools drained (a restart).
Lost = requests sent - requests in MLflow's window runs (their ``request_count``).
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
sys.path.insert(0, str(ROOT / "scripts"))
import demo  # noqa: E402
from stack import Stack  # noqa: E402

CLIENTS = 8


def stack_rate(workdir: Path, replicas: int, requests: int, sqlite: bool = False) -> tuple[float, int]:
    """(requests/s persisted, requests lost) for ``requests`` sent by 8 concurrent clients over the apps."""
    from mlflow import MlflowClient

    folder = workdir / f"stack-{replicas}-{'sqlite' if sqlite else 'pg'}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    backend = f"sqlite:///{folder / 'mlflow.db'}" if sqlite else None
    with Stack(folder, replicas=replicas, backend_uri=backend) as stack:

        def ask(i: int) -> int:
            return demo.post(f"{stack.app_urls[i % replicas]}/ask", {"question": f"q{i}", "k": 1 + i % 3})[0]

        start = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = list(pool.map(ask, range(requests)))
        stack.drain()
        stack.drain_spools()
        seconds = time.perf_counter() - start
        client = MlflowClient(stack.mlflow_url)
        experiment = client.get_experiment_by_name(stack.experiment)
        runs = client.search_runs([experiment.experiment_id], max_results=1000) if experiment else []
        persisted = int(sum(r.data.metrics.get("request_count", 0) for r in runs))
    return requests / seconds, statuses.count(200) - persisted


if __name__ == "__main__":
    import tempfile

    work = Path(tempfile.mkdtemp(prefix="otel-mlflow-stack-bench-"))
    for replicas, sqlite in ((1, False), (2, False), (1, True)):
        rate, lost = stack_rate(work, replicas, int(sys.argv[1]) if len(sys.argv) > 1 else 300, sqlite)
        print(f"{'sqlite' if sqlite else 'PostgreSQL'} MLflow, {replicas} receiver(s): {rate:.1f} req/s, lost {lost}")
