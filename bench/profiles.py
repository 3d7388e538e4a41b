"""Where the time goes: py-spy flame graphs of each measured path, saved under bench/results/profiles/.

    python bench/profiles.py                 # every path (make bench runs this after the table)
    python bench/profiles.py onthread        # one path, in this process (what py-spy samples)

Paths: ``onthread`` (instrumented LLM calls), ``fastapi`` (requests through the official instrumentation plus
our capture), ``window_rest`` (window mode into a local ``mlflow server``, runs only), ``receiver`` (OTLP/HTTP
into ``otel-mlflow receive``, window mode into sqlite). Each gives ``<path>.svg`` (open it in a browser) and
``<path>.txt``: the functions with the most samples, inclusive, all threads, idle waits and imports left out.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
OUT = Path(__file__).resolve().parent / "results" / "profiles"
PATHS = ("onthread", "fastapi", "window_rest", "receiver")
RATE = 250  # samples a second


def run_path(name: str) -> None:
    """The workload of one path, long enough for a few thousand samples."""
    work = Path(tempfile.mkdtemp(prefix=f"otel-mlflow-profile-{name}-"))
    if name == "onthread":
        from bench import onthread

        onthread.otel_variants(100_000)
    elif name == "fastapi":
        from bench import fastapi_latency

        fastapi_latency.request_us(3000, rounds=1, names=("capture",))
    elif name == "window_rest":
        from bench import persist
        from otel_mlflow.testing import mlflow_server

        with mlflow_server(work / "server") as url:
            persist.otel_mlflow_rate(url, str(work / "a"), "window", 3000, link_traces=False)
    elif name == "receiver":
        from bench import persist, receiver

        receiver.bench_receiver(work, 3000, persist.serve_request, "http", link_traces=False)
    else:
        raise SystemExit(f"unknown path {name!r}; one of {', '.join(PATHS)}")


def record(name: str) -> Path:
    """py-spy samples ``run_path(name)`` in a child process: a flame graph and a text summary."""
    OUT.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).with_name("py-spy")
    child = [sys.executable, __file__, name]
    raw = OUT / f"{name}.raw"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    for fmt, target in (("flamegraph", OUT / f"{name}.svg"), ("raw", raw)):
        subprocess.run(
            [str(py_spy), "record", "--rate", str(RATE), "--format", fmt, "--output", str(target), "--", *child],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    (OUT / f"{name}.txt").write_text(summary(raw.read_text()))
    raw.unlink()
    return OUT / f"{name}.svg"


def summary(raw: str, top: int = 40) -> str:
    """Inclusive samples per function over every stack of py-spy's raw (collapsed) output, idle waits and module
    imports left out."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if any(idle in frames[-1] for idle in ("wait (threading.py", "select (selectors.py", "_worker (concurrent")):
            continue
        if any("_find_and_load" in frame for frame in frames):  # importing modules: once per process, not the path
            continue
        total += int(count)
        for frame in dict.fromkeys(f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0] for f in frames):
            inclusive[frame] += int(count)
    lines = [f"{total} busy samples at {RATE}/s; inclusive share per function:"]
    lines += [f"{count * 100 / max(total, 1):5.1f}%  {frame}" for frame, count in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def main() -> int:
    if len(sys.argv) > 1:
        run_path(sys.argv[1])
        return 0
    for name in PATHS:
        print(f"profile {name}: {record(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
