"""The README's commands, run as written: the lines are read from README.md and examples/zero_code/README.md,
and only what a test must change is changed (fixed ports become free ones, the placeholder ``app:app`` becomes
the example app, the host ``collector`` becomes 127.0.0.1). Each one must end with runs in MLflow."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Store, free_port, receiver_process, rotel_collector, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import demo

pytestmark = pytest.mark.subprocess
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def shell_blocks(markdown: Path) -> list[list[str]]:
    """The commands of each ```bash block of the file, continuation lines joined, comments dropped."""
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", markdown.read_text(), flags=re.S):
        commands = [re.sub(r"\s+#.*$", "", line).strip() for line in block.replace("\\\n", " ").splitlines()]
        blocks.append([re.sub(r"\s+", " ", c) for c in commands if c and not c.startswith("#")])
    return blocks


def shell_commands(markdown: Path) -> list[str]:
    return [command for block in shell_blocks(markdown) for command in block]


def command_with(markdown: Path, *parts: str) -> str:
    [found] = [c for c in shell_commands(markdown) if all(p in c for p in parts)]
    return found


def run_app(command: str, cwd: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``command`` in bash, as a user would type it, with the venv's tools first on PATH."""
    proc = subprocess.Popen(
        ["bash", "-c", command],
        cwd=cwd,
        env={**env, "PATH": f"{BIN}:{os.environ['PATH']}"},
        start_new_session=True,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    demo.wait_healthy(f"http://127.0.0.1:{port}", proc)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)  # Ctrl-C's cousin: the whole command, as `kill -TERM` would
    proc.wait(60)


def app_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MLFLOW_"))}
    return {**env, "OTEL_SERVICE_NAME": "rag-api"}


@pytest.fixture
def receiver(tmp_path: Path, store: Store) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:
    """``otel-mlflow receive`` from the README (its ports free ones), into ``store``."""
    assert "otel-mlflow receive" in shell_commands(ROOT / "README.md")  # run with its ports made free ones
    http_port, grpc_port = free_port(), free_port()
    proc = receiver_process(
        {"MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)}, tmp_path, http_port, grpc_port
    )
    try:
        yield http_port, grpc_port, proc
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.parametrize("line", ["http://collector:4317", "http://127.0.0.1:4320", "http/protobuf"])
def test_the_collector_and_receiver_lines(
    line: str, receiver: tuple[int, int, subprocess.Popen[bytes]], store: Store, tmp_path: Path
) -> None:
    http_port, grpc_port, receiver_proc = receiver
    command = command_with(ROOT / "README.md", "OTEL_TRACES_EXPORTER=otlp", line)
    assert command.endswith("opentelemetry-instrument uvicorn app:app")
    app_port = free_port()
    command = command.replace("uvicorn app:app", f"uvicorn api_gateway.main:app --port {app_port}")
    command = command.replace("127.0.0.1:4320", f"127.0.0.1:{grpc_port}").replace(
        "127.0.0.1:4319", f"127.0.0.1:{http_port}"
    )
    with rotel_collector(tmp_path, f"http://127.0.0.1:{http_port}") as (_, collector_grpc):  # the Collector's OTLP
        command = command.replace("collector:4317", f"127.0.0.1:{collector_grpc}")
        app = run_app(command, ROOT / "examples" / "rag_app", app_env(), app_port, tmp_path / "app.log")
        try:
            status, answer, trace_id = demo.post(f"http://127.0.0.1:{app_port}/ask", {"question": "What is RAG?"})
            assert status == 200 and trace_id
        finally:
            stop(app)  # the app's exporter sends what it holds on SIGTERM
        assert wait_for(lambda: receiver_proc.poll() is None and _received(tmp_path, trace_id, store), 30), (
            tmp_path / "app.log"
        ).read_text()[-3000:]
    receiver_proc.send_signal(signal.SIGTERM)  # closes the window: its run is complete
    assert receiver_proc.wait(60) == 0
    [run] = store.runs()
    assert run.data.metrics["request_count"] == 1 and run.info.run_name.startswith("rag-api ")
    assert "gen_ai.usage.input_tokens" in run.data.metrics  # the LLM service's span came through too
    [trace] = store.client().search_traces(locations=[run.info.experiment_id], run_id=run.info.run_id)
    assert json.loads(trace.info.request_preview) == {"question": "What is RAG?"} and trace_id in trace.info.trace_id


def _received(tmp_path: Path, trace_id: str, store: Store) -> bool:
    """The receiver wrote the request's trace (its window run stays open until the window closes)."""
    experiment = store.client().get_experiment_by_name("llmops-rag")
    return experiment is not None and any(
        trace_id in t.info.trace_id for t in store.client().search_traces(locations=[experiment.experiment_id])
    )


def test_the_zero_code_walkthrough(tmp_path: Path) -> None:
    """examples/zero_code/README.md, in a copy of the examples (its sqlite file lands there, not in the checkout)."""
    guide = ROOT / "examples" / "zero_code" / "README.md"
    start, ask, ui = (" && ".join(block) for block in shell_blocks(guide)[:3])
    assert start.startswith("cd examples/rag_app && ") and ask.startswith("curl ") and " ui " in ui
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the guide's ../../.venv/bin/...
    app_port, ui_port = free_port(), free_port()
    app = run_app(
        start.replace("--port 8000", f"--host 127.0.0.1 --port {app_port}"),
        tmp_path,
        app_env(),
        app_port,
        tmp_path / "app.log",
    )
    try:
        answer = subprocess.run(
            ["bash", "-c", ask.replace(":8000", f":{app_port}")], capture_output=True, text=True, check=True, timeout=60
        ).stdout
        assert json.loads(answer)["question"] == "What is RAG?"
    finally:
        stop(app)
    store = tmp_path / "examples" / "rag_app" / "mlflow.db"
    assert store.exists(), (tmp_path / "app.log").read_text()[-3000:]
    ui_proc = subprocess.Popen(
        ["bash", "-c", ui.replace("--port 5000", f"--host 127.0.0.1 --port {ui_port}")],
        cwd=tmp_path / "examples" / "rag_app",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import httpx

        search = f"http://127.0.0.1:{ui_port}/ajax-api/2.0/mlflow/runs/search"

        def runs() -> list[dict[str, object]]:
            try:
                experiment = httpx.get(
                    f"http://127.0.0.1:{ui_port}/ajax-api/2.0/mlflow/experiments/get-by-name",
                    params={"experiment_name": "llmops-rag"},
                    timeout=2,
                ).json()["experiment"]
                return (
                    httpx.post(search, json={"experiment_ids": [experiment["experiment_id"]]}, timeout=5)
                    .json()
                    .get("runs", [])
                )
            except (httpx.HTTPError, KeyError, ValueError):
                return []

        seen: list[dict[str, object]] = []  # the answer that passed (a later call may time out under load)

        def one_run() -> bool:
            seen[:] = runs()
            return len(seen) == 1

        assert wait_for(one_run, 90), seen  # the UI of the guide's command shows the window run
        [run] = seen
        assert run["info"]["run_name"].startswith("rag-api k=2 ")
    finally:
        os.killpg(ui_proc.pid, signal.SIGTERM)
        ui_proc.wait(30)


def test_make_demo(tmp_path: Path) -> None:
    """`make demo` from the README, in a folder of its own (the checkout's Makefile, venv and examples linked)."""
    assert "make demo" in shell_commands(ROOT / "README.md")
    for name in (".venv", "pyproject.toml", "examples"):
        (tmp_path / name).symlink_to(Path(sys.prefix) if name == ".venv" else ROOT / name)
    # -o: the venv counts as installed (else make would reinstall the project, editable, from this folder)
    result = subprocess.run(
        ["make", "-o", ".venv/.installed", "-f", str(ROOT / "Makefile"), "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=app_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert f"sqlite:///{tmp_path / 'mlflow.db'}" in out and (tmp_path / "mlflow.db").exists()
    assert "5 run(s) written to experiment 'llmops-rag'" in out  # a window run per k (1, 2, 3), then k=2 and k=4
    assert "86 MLflow trace(s), each linked to its run" in out and "83 with the user's feedback" in out
    summary = out[out.find("run(s) written") :]
    assert "feedback: helpful 2" in out and "feedback: wrong 1" in out, summary
    assert "feedback: helpful 20, unclear 20" in out and "feedback: helpful 36, unclear 4" in out, summary
    assert "objectives (OTEL_MLFLOW_SLO): breached: error_rate<0.1 (0.5)" in out  # the k=1 window, on purpose
    assert re.search(r"Evaluation dataset 'rag-cases' \(d-\w+\): 2 case\(s\)", out)
    assert re.search(r"failed +'Please fail this request'", out) and re.search(r"feedback=wrong +'Why do input", out)
    assert re.search(r"latency_ms +median .* higher\n", out)  # k=4 fetches twice the documents
    assert re.search(r"feedback.helpful.share +share .* higher", out)
    assert "comparison run " in out and (tmp_path / ".demo" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert re.search(r"traces: http://127\.0\.0\.1:5000/#/experiments/\d+/traces", out)
    assert re.search(r"runs: +http://127\.0\.0\.1:5000/#/experiments/\d+/runs\?viewStateShareKey=otel-mlflow", out)
    assert f"Artifacts are under {tmp_path / 'mlartifacts'}" in out


def test_the_objective_dataset_and_compare_lines(tmp_path: Path, store: Store) -> None:
    """The README's OTEL_MLFLOW_SLO and OTEL_MLFLOW_EVAL_DATASET lines serve the example app (a failed request among
    k=2 and k=4 ones); then its `otel-mlflow compare` lines compare the two configurations in that store."""
    env = {**app_env(), "MLFLOW_TRACKING_URI": store.uri, "MLFLOW_ARTIFACT_PATH": str(store.artifacts)}
    env["OTEL_MLFLOW_PARAM_FIELDS"] = "k"
    asked = [{"question": f"What is RAG? ({i})", "k": 2 + 2 * (i % 2)} for i in range(8)]
    asked.append({"question": "Please fail this request", "k": 2})
    for setting in ("OTEL_MLFLOW_SLO=", "OTEL_MLFLOW_EVAL_DATASET="):
        command = command_with(ROOT / "README.md", setting, "uvicorn app:app")
        port = free_port()
        command = command.replace("uvicorn app:app", f"uvicorn api_gateway.main:app --port {port}")
        app = run_app(command, ROOT / "examples" / "rag_app", env, port, tmp_path / "app.log")
        try:
            for body in asked:
                demo.post(f"http://127.0.0.1:{port}/ask", body)
        finally:
            stop(app)  # closes the windows: objectives checked, cases collected
    windows = [r for r in store.runs() if r.data.tags.get("otel_mlflow.run_mode") == "window"]
    assert len(windows) == 4 and {r.data.tags["otel_mlflow.slo"] for r in windows[:2]} == {"met", "breached"}
    experiment = store.client().get_experiment_by_name("llmops-rag")
    [dataset] = store.client().search_datasets(experiment_ids=[experiment.experiment_id])
    assert dataset.name == "rag-cases"
    k2 = [r.info.run_id for r in windows if r.data.params["k"] == "2"]
    for line in ("--by k --baseline 2", "--by model --by k", "--runs RUN_ID,RUN_ID --runs RUN_ID"):
        command = command_with(ROOT / "README.md", f"otel-mlflow compare {line}")
        command = command.replace("RUN_ID,RUN_ID", ",".join(k2)).replace(
            "--runs RUN_ID", f"--runs {windows[1].info.run_id}"
        )
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=tmp_path,
            env={**env, "PATH": f"{BIN}:{os.environ['PATH']}"},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0 and "latency_ms" in done.stdout, (command, done.stderr[-2000:])
    assert (tmp_path / "comparison.png").exists()
