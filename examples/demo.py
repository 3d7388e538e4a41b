"""The main job (`make demo`): the example RAG app, run zero-code under `opentelemetry-instrument`
with uvicorn on 127.0.0.1, asked a handful of questions, stopped with SIGTERM (spans flushed), then served
again with two configurations (k=2 and k=4, 40 requests each) for `otel-mlflow compare --by k`; then a summary of
the MLflow runs it wrote (users' feedback included, an objective breached on purpose by the failed request), the
evaluation dataset the failed and disliked requests filled, the comparison table, and the command to open the
MLflow UI on that store.

Uses MLFLOW_TRACKING_URI when set; otherwise ./mlflow.db (MLflow's own default), artifacts in mlartifacts/ beside it.
Requests are served, so the default run mode (auto) gathers them into one run per configuration (k)
with a predictions table; OTEL_MLFLOW_RUN_MODE=trace makes one run per request instead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

RAG_APP = Path(__file__).resolve().parent / "rag_app"
QUESTIONS = (  # two users' chat sessions (MLflow's Sessions view), read from the body's session_id / user_id
    {"question": "What is RAG?", "k": 2, "session_id": "demo-session-1", "user_id": "ada"},
    {"question": "What does MLflow record for each run?", "k": 2, "session_id": "demo-session-1", "user_id": "ada"},
    {"question": "What is a span in OpenTelemetry?", "k": 1, "session_id": "demo-session-2", "user_id": "grace"},
    {"question": "Why do input tokens matter for cost?", "k": 3, "session_id": "demo-session-2", "user_id": "grace"},
    {
        "question": "What does the Collector do with telemetry?",
        "k": 2,
        "session_id": "demo-session-1",
        "user_id": "ada",
    },
    {"question": "Please fail this request", "k": 1, "session_id": "demo-session-2", "user_id": "grace"},  # fails
)
FEEDBACK = {0: ("helpful", None), 1: ("helpful", None), 3: ("wrong", "it never mentions output tokens")}
"""Feedback the users give on some answers (by question index): POST /feedback with the answer's x-trace-id."""
TOPICS = ("RAG", "MLflow runs", "OpenTelemetry spans", "token cost", "the Collector", "evaluation", "prompts", "traces")
COMPARED = tuple(
    {"question": f"Tell me about {TOPICS[i % len(TOPICS)]} ({i})", "k": 2 + 2 * (i % 2)} for i in range(80)
)
"""Two configurations served side by side, 40 requests each: k=4 fetches twice the documents (slower) and its
answers are liked more (:data:`COMPARED_FEEDBACK`)."""
COMPARED_FEEDBACK = {
    i: ("helpful" if (i % 2 and i % 20 != 1) or (not i % 2 and i % 4 == 0) else "unclear", None) for i in range(80)
}
"""k=4: helpful on 36 of 40; k=2: helpful on 20 of 40, "unclear" on the rest (neither counts as a bad answer)."""
DEMO_SETTINGS = {
    "OTEL_MLFLOW_SLO": "error_rate<0.1,latency_ms.p95<2000",  # the k=1 window (1 failed of 2) breaches on purpose
    "OTEL_MLFLOW_EVAL_DATASET": "rag-cases",  # the failed and the disliked requests become evaluation cases
    "DEMO_SEARCH_MS_PER_DOC": "10",  # each retrieved document costs ~10 ms: k=4 is slower than k=2
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(env: Mapping[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """Start the example app zero-code: `opentelemetry-instrument uvicorn api_gateway.main:app`."""
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    command = [
        str(instrument),
        sys.executable,
        "-m",
        "uvicorn",
        "api_gateway.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = open(log_path, "wb")
    return subprocess.Popen(command, cwd=RAG_APP, env=dict(env), stdout=log, stderr=subprocess.STDOUT)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode} before it answered")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the app did not answer {url}/health within {timeout:.0f}s")


def ask(url: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /ask; (status, JSON answer)."""
    status, answer, _ = post(f"{url}/ask", body)
    return status, answer


def post(url: str, body: Mapping[str, Any]) -> tuple[int, dict[str, Any], str | None]:
    """POST JSON; (status, JSON answer, the x-trace-id header)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers.get("x-trace-id")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), error.headers.get("x-trace-id")


def stop(proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM, as a process manager would; the app flushes its spans before it exits."""
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def run_app(
    env: Mapping[str, str],
    questions: Sequence[Mapping[str, Any]],
    log_path: Path,
    feedback: Mapping[int, tuple[Any, str | None]] | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Ask each question, then give ``feedback`` (index -> (value, comment)) on those answers; SIGTERM."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start_app(env, port, log_path)
    try:
        wait_healthy(url, proc)
        asked = [post(f"{url}/ask", q) for q in questions]
        for index, (value, comment) in (feedback or {}).items():
            trace_id = asked[index][2]
            if trace_id:  # the app runs untraced when its instrumentation is off
                status, body, _ = post(f"{url}/feedback", {"trace_id": trace_id, "value": value, "comment": comment})
                if status != 202:
                    raise RuntimeError(f"POST /feedback answered {status}: {body}")
        answers = [(status, body) for status, body, _ in asked]
    finally:
        if proc.poll() is None:
            stop(proc)
    return answers


def demo_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{Path('mlflow.db').resolve()}")
    env.setdefault("MLFLOW_EXPERIMENT_NAME", "llmops-rag")
    env.setdefault("OTEL_SERVICE_NAME", "rag-api")
    env.setdefault("OTEL_TRACES_EXPORTER", "mlflow")
    env.setdefault("OTEL_MLFLOW_PARAM_FIELDS", "k")  # the example's request field: runs per k
    for key, value in DEMO_SETTINGS.items():
        env.setdefault(key, value)
    for key in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(key, None)  # the demo runs offline with the demo model
    return env


SHOWN_ROWS = 6


def summarize(tracking_uri: str, experiment_name: str, since_ms: int) -> int:
    from mlflow import MlflowClient

    from otel_mlflow.config import is_server_uri
    from otel_mlflow.mapping.experiment_tags import runs_view_query

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    runs = (
        []
        if experiment is None
        else client.search_runs(
            [experiment.experiment_id],
            filter_string=f"attributes.start_time >= {since_ms}",
            order_by=["attributes.start_time ASC"],
        )
    )
    if not runs:
        print(f"No runs were written to {tracking_uri}; see .demo/app.log", file=sys.stderr)
        return 1
    print(f"\n{len(runs)} run(s) written to experiment {experiment_name!r} in {tracking_uri}")
    for run in runs:
        p, m = run.data.params, run.data.metrics
        config = ", ".join(f"{k}={v}" for k, v in sorted(p.items()))
        if run.data.tags.get("otel_mlflow.run_mode") == "window":
            print(f"\nwindow run {run.info.run_name!r} [{run.info.status}] {config}")
            print(
                f"  requests {m.get('request_count', 0):.0f}, errors {m.get('error_count', 0):.0f}, "
                f"latency p50 {m.get('latency_ms.p50', 0):.1f} ms / p95 {m.get('latency_ms.p95', 0):.1f} ms, "
                f"tokens {m.get('tokens.total', 0):.0f}"
            )
            given = ", ".join(
                f"{k[len('feedback.') :]} {v:.0f}" for k, v in sorted(m.items()) if k.startswith("feedback.")
            )
            if given:
                print(f"  feedback: {given}")
            if run.data.tags.get("otel_mlflow.slo"):
                breached = run.data.tags.get("otel_mlflow.slo.breached")
                verdict = run.data.tags["otel_mlflow.slo"] + (f": {breached}" if breached else "")
                print(f"  objectives (OTEL_MLFLOW_SLO): {verdict}")
            table = _artifact(client, run.info.run_id, "predictions.json")
            rows = json.loads(table)["data"] if table else []
            for row in rows[:SHOWN_ROWS]:
                print(
                    f"    {row[6]:<5} {row[3]:>7.1f} ms  {str(row[1])[:45]!r} -> {str(row[2] or '(no answer)')[:40]!r}"
                )
            if len(rows) > SHOWN_ROWS:
                print(f"    ... {len(rows) - SHOWN_ROWS} more rows in predictions.json")
        else:
            print(
                f"\nrun {run.info.run_name!r} [{run.info.status}] {config}, "
                f"latency {m.get('latency_ms', 0):.1f} ms, tokens {m.get('tokens.total', 0):.0f}"
            )
    traces = client.search_traces(locations=[experiment.experiment_id], max_results=1000)
    windows = sum(r.data.tags.get("otel_mlflow.run_mode") == "window" for r in runs)
    rated = sum(1 for t in traces if any(a.name == "user_feedback" for a in t.info.assessments or ()))
    print(
        f"\n{len(traces)} MLflow trace(s), each linked to its run, with the question as Input and the answer as "
        f"Output; {rated} with the user's feedback as an assessment."
    )
    if windows:
        print(f"Window runs ({windows}) hold predictions.json, one row per request.")
    if len(runs) > windows:
        print(f"Per-trace runs ({len(runs) - windows}) hold prompt.txt, context.txt, response.txt and spans.json.")
    print(f"Artifacts are under {experiment.artifact_location}.")
    if is_server_uri(tracking_uri):
        base = tracking_uri.rstrip("/")
        print("Open the MLflow UI of this server:")
    else:
        base = "http://127.0.0.1:5000"
        print("Open the MLflow UI on this store:")
        print(f"  {Path(sys.executable).with_name('mlflow')} ui --backend-store-uri {tracking_uri} --port 5000")
    view = runs_view_query(experiment.tags)  # the runs table with our columns, when we made the experiment
    print(f"  runs:   {base}/#/experiments/{experiment.experiment_id}/runs{view}")
    print(f"  traces: {base}/#/experiments/{experiment.experiment_id}/traces")
    return 0


def _artifact(client: Any, run_id: str, path: str) -> str:
    try:
        local = client.download_artifacts(run_id, path)
        return Path(local).read_text(encoding="utf-8")
    except Exception:  # noqa: BLE001 - the summary must not fail on one missing artifact
        return ""


def show_dataset(tracking_uri: str, experiment_name: str, name: str) -> None:
    """The evaluation dataset's cases (``OTEL_MLFLOW_EVAL_DATASET``), read through MLflow's GenAI dataset API."""
    import mlflow
    from mlflow.genai.datasets import search_datasets

    mlflow.set_tracking_uri(tracking_uri)  # MLflow's dataset API reads the global store: this process's only one
    experiment = mlflow.MlflowClient().get_experiment_by_name(experiment_name)
    found = [d for d in search_datasets(experiment_ids=[experiment.experiment_id]) if d.name == name]
    if not found:
        print(f"\nNo evaluation dataset {name!r} (OTEL_MLFLOW_EVAL_DATASET) was filled.")
        return
    cases = found[0].to_df()
    print(f"\nEvaluation dataset {name!r} ({found[0].dataset_id}): {len(cases)} case(s), for mlflow.genai.evaluate")
    for case in cases.itertuples():
        outputs = case.outputs.get("answer") or case.outputs.get("error")
        print(
            f"  {case.tags.get('otel_mlflow.case', ''):<16} {case.inputs['question'][:45]!r} -> {str(outputs)[:45]!r}"
        )


def compare(env: Mapping[str, str], since_ms: int) -> int:
    """`otel-mlflow compare --by k` over the second serving: prints its table, logs the comparison run."""
    command = [str(Path(sys.executable).with_name("otel-mlflow")), "compare", "--by", "k", "--baseline", "2"]
    command += ["--since", str(since_ms), "--chart", ".demo/comparison.png"]
    print(f"\n$ otel-mlflow compare --by k --baseline 2 --since {since_ms} --chart .demo/comparison.png")
    done = subprocess.run(command, env=dict(env), capture_output=True, text=True, timeout=300)
    print(done.stdout + done.stderr, end="")
    return done.returncode


def main() -> int:
    env = demo_env()
    Path(".demo").mkdir(exist_ok=True)
    since_ms = int(time.time() * 1000)
    print(f"Starting the example RAG app under opentelemetry-instrument; runs go to {env['MLFLOW_TRACKING_URI']}")
    for (status, body), question in zip(
        run_app(env, QUESTIONS, Path(".demo/app.log"), FEEDBACK), QUESTIONS, strict=True
    ):
        print(f"  {status}  {question['question']!r} -> {str(body.get('answer', body.get('detail')))[:70]!r}")
    compared_ms = int(time.time() * 1000)
    print(f"Serving again with two configurations, k=2 and k=4, {len(COMPARED) // 2} requests each")
    answered = run_app(env, COMPARED, Path(".demo/app-compare.log"), COMPARED_FEEDBACK)
    print(f"  {sum(status == 200 for status, _ in answered)} of {len(COMPARED)} answered")
    status = summarize(env["MLFLOW_TRACKING_URI"], env["MLFLOW_EXPERIMENT_NAME"], since_ms)
    show_dataset(env["MLFLOW_TRACKING_URI"], env["MLFLOW_EXPERIMENT_NAME"], env["OTEL_MLFLOW_EVAL_DATASET"])
    return status or compare(env, compared_ms)


if __name__ == "__main__":
    sys.exit(main())
