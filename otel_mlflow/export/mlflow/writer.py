"""Writes one :class:`RunPlan` to MLflow with as few calls as possible (how to reach MLflow, its errors and
experiments: :mod:`.server`).

A write is resumable: :class:`WriteState` records what already landed (run created, batches
logged, artifacts uploaded, run ended), so a retry after a failure never creates a second run
or logs a batch twice. ``mlflow`` is imported on first use, never at import time.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from otel_mlflow import attributes as A
from otel_mlflow.config import Config, is_server_uri
from otel_mlflow.export.mlflow import server
from otel_mlflow.export.mlflow.alerts import alert_sender
from otel_mlflow.export.mlflow.batches import BATCHES_IN_FLIGHT, log_batches
from otel_mlflow.export.mlflow.eval_dataset import EvalDataset
from otel_mlflow.export.mlflow.prompts import PromptLinks
from otel_mlflow.export.mlflow.server import LinkRefused, PermanentWriteError, is_permanent
from otel_mlflow.export.mlflow.trace_process import TraceProcess
from otel_mlflow.export.mlflow.traces import MLflowTraces
from otel_mlflow.export.pending.jobs import WriteState
from otel_mlflow.mapping.feedback import FeedbackNote, feedback_notes
from otel_mlflow.mapping.limits import MAX_PARAMS_TAGS_PER_BATCH, MAX_TAG_VALUE_CHARS, Batch, chunk_batch
from otel_mlflow.mapping.mlflow_trace import mlflow_trace_spans
from otel_mlflow.mapping.run_plan import RunPlan
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import Scrubber, get_logger

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from opentelemetry.sdk.trace import ReadableSpan

_logger = get_logger(__name__)
_warnings = RateLimitedLog(_logger)
_KNOWN_RUNS = 10_000
_PROBE_CACHE_SECONDS = 5.0


@dataclass
class _RunMemory:
    params: dict[str, str] = field(default_factory=dict)
    next_step: dict[str, int] = field(default_factory=dict)
    experiment_id: str | None = None


class MLflowWriter:
    """Writes plans to the tracking store named by ``config``. Not thread-safe: one writer thread."""

    def __init__(self, config: Config, scrubber: Scrubber, trace_process: bool = False) -> None:
        self._config = config
        self._scrubber = scrubber
        self._client_obj: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._runs: OrderedDict[str, _RunMemory] = OrderedDict()
        self._healthy_until = 0.0
        self._link = config.link_traces
        self._link_refused = False
        helper = TraceProcess() if trace_process else None  # started at its first chunk; a server needs none
        self._traces = MLflowTraces(config.tracking_uri, server.auth_headers(config), helper)
        self._alerts = alert_sender(config)
        self._cases = EvalDataset(config.eval_dataset) if config.eval_dataset else None
        self._prompts = PromptLinks()

    # --- public -------------------------------------------------------------------------
    def write(self, plan: RunPlan, state: WriteState, spans: Sequence[ReadableSpan] = ()) -> str | None:
        """Write ``plan``, resuming after whatever ``state`` says already landed; returns the run id (None for
        a plan of feedback only). ``spans`` are stored as MLflow traces linked to the run by a plan of
        ``only_traces`` (the trace lane's job, once the run exists).

        Raises :class:`PermanentWriteError` for a write no retry can fix, and anything else
        (connection errors, MLflow 5xx) for a write worth retrying.
        """
        try:
            return self._write(plan, state, spans)
        except Exception as exc:
            if is_permanent(exc):
                raise PermanentWriteError(str(exc)) from exc
            raise

    def close(self) -> None:
        """The writer thread is done: its trace helper process, if any, stops; alerts on their way get 5 s."""
        self._traces.close()
        if self._alerts is not None:
            self._alerts.flush(timeout=5.0)

    def close_failed(self, run_id: str, reason: str) -> None:
        """Best effort once a write was given up: the run gets the reason (tag ``otel_mlflow.write_error``)
        and ends FAILED; MLflow still down means it stays as it is (nothing more can be done)."""
        try:
            client = self._client()
            client.set_tag(run_id, A.TAG_WRITE_ERROR, self._scrubber.text(reason)[:MAX_TAG_VALUE_CHARS])
            client.set_terminated(run_id, "FAILED")
        except Exception as exc:  # noqa: BLE001 - reported, never raised: the job is dropped either way
            _logger.warning("run %s could not be ended FAILED after a write was given up: %s", run_id, exc)

    def experiment_id(self) -> str:
        """Id of the configured experiment, created (with ``MLFLOW_ARTIFACT_PATH``) when missing."""
        if self._experiment_id is None:
            self._experiment_id = self._resolve_experiment()
        return self._experiment_id

    # --- steps ----------------------------------------------------------------------------
    def _write(self, plan: RunPlan, state: WriteState, spans: Sequence[ReadableSpan]) -> str | None:
        self._check_server()
        if plan.only_feedback:
            self._log_feedback(plan.feedback, self.experiment_id())
            return None
        if plan.only_traces and plan.run_id is not None:  # the trace lane: the run exists, its traces follow
            memory = self._memory(plan.run_id, fetch=plan.experiment_id is None)
            memory.experiment_id = plan.experiment_id or memory.experiment_id
            if not state.linked:
                self._link_trace(plan.run_id, memory, spans, state)
                state.linked = True
            return plan.run_id
        client = self._client()
        if state.run_id is None:
            if plan.run_id is None:
                state.run_id = self._create_run(plan, state)
                state.tags_at_creation = len(plan.tags) <= MAX_PARAMS_TAGS_PER_BATCH and not state.in_doubt
            else:
                state.run_id = plan.run_id
        run_id = state.run_id
        memory = self._memory(run_id, fetch=plan.run_id is not None)
        if plan.run_id is None:
            memory.experiment_id = self.experiment_id()
            if A.PARAM_PROMPT in plan.params:  # the prompt versions it used (MLflow's list_logged_prompts)
                self._prompts.link_run(client, run_id, plan.params[A.PARAM_PROMPT])
        state.experiment_id = memory.experiment_id
        params, tags = self._settle_params(plan, memory)
        if state.tags_at_creation:  # create_run wrote them already (one call less per run)
            tags = [(k, v) for k, v in tags if k not in plan.tags]
        metrics = self._steps(plan, memory, offset=plan.run_id is not None)
        batches = [(i, b) for i, b in enumerate(chunk_batch(metrics, params, tags)) if i not in state.batches_done]
        in_flight = BATCHES_IN_FLIGHT if is_server_uri(self._config.tracking_uri) else 1

        def landed(index: int, batch: Batch) -> None:
            memory.params.update(batch.params)
            state.batches_done.add(index)
            state.progressed()

        log_batches(client, run_id, batches, in_flight, landed)
        if plan.artifacts and not state.artifacts_done:
            self._upload(run_id, plan.artifacts)
            state.artifacts_done = True
        if plan.ends_run and not state.ended:
            client.set_terminated(run_id, "FAILED" if plan.failed else "FINISHED", end_time=plan.end_ms)
            state.ended = True
            for notice in plan.notices:
                _logger.warning("otel-mlflow: window run %s: %s", run_id, notice)
            if plan.slo_breaches:  # once, when the window's closing write has landed
                _logger.warning("otel-mlflow: window run %s breached %s", run_id, "; ".join(plan.slo_breaches))
                if self._alerts is not None and plan.alert is not None:
                    url = server.run_url(self._config, self.experiment_id(), run_id)
                    self._alerts.send({**plan.alert, "run_id": run_id, "run_url": url})
        if plan.eval_cases and self._cases is not None and not state.cases_added:  # once the run has ended
            self._cases.add(client, self.experiment_id(), plan.eval_cases, self._traces.trace_id_of)
            state.cases_added = True
        return run_id

    def _link_trace(self, run_id: str, memory: _RunMemory, spans: Sequence[ReadableSpan], state: WriteState) -> None:
        """The spans as MLflow traces linked to the run (MLflow's GenAI views). A store that cannot hold traces is
        told once, then skipped; other errors are retried with the rest of the write."""
        if self._link_refused or not self._link or not memory.experiment_id:
            return
        try:
            clean = mlflow_trace_spans(spans, self._config.capture_content, self._scrubber)
            self._traces.log(
                self._client(), memory.experiment_id, run_id, clean, state.trace_chunks_done, state.chunks_stored
            )
            self._prompts.link_traces(self._client(), spans, memory.experiment_id, self._traces.trace_id_of)
            self._log_feedback(feedback_notes(clean, self._scrubber), memory.experiment_id)  # given with the request
        except LinkRefused as exc:
            self._link_refused = True
            _logger.warning(
                "otel-mlflow: runs are written without MLflow traces: %s (traces need MLflow 3.6+ with "
                "a database store; OTEL_MLFLOW_LINK_TRACES=false turns this off)",
                exc,
            )

    def _log_feedback(self, notes: Sequence[FeedbackNote], experiment_id: str) -> None:
        """Each note as an MLflow feedback assessment on its trace (once: a replay finds it logged). Without MLflow
        traces there is nothing to put it on: told once, the window counts keep it."""
        if notes and (self._link_refused or not self._link):
            _warnings.warn(
                "feedback",
                "otel-mlflow: feedback is counted in window runs but not logged as MLflow "
                "assessments: they need linked traces (OTEL_MLFLOW_LINK_TRACES=true, a database store)",
            )
            return
        for note in notes:
            self._traces.log_feedback(note, experiment_id)

    def _create_run(self, plan: RunPlan, state: WriteState) -> str:
        if state.in_doubt and plan.identity is not None:
            found = self._find_run(*plan.identity)
            if found is not None:
                return found
        tags = dict(plan.tags) if len(plan.tags) <= MAX_PARAMS_TAGS_PER_BATCH else {}
        tags[A.TAG_TRACE_ID] = plan.trace_id
        if plan.identity is not None:
            tags[plan.identity[0]] = plan.identity[1]
        if state.on_create is not None:
            state.on_create(None)
        run = self._client().create_run(
            self.experiment_id(), start_time=plan.start_ms, tags=tags, run_name=plan.run_name
        )
        run_id = str(run.info.run_id)
        if state.on_create is not None:
            state.on_create(run_id)
        return run_id

    def _find_run(self, key: str, value: str) -> str | None:
        """The run a crashed process created for this write, if it got that far (replay only)."""
        runs = self._client().search_runs(
            [self.experiment_id()], filter_string=f"tags.`{key}` = '{value}'", max_results=1
        )
        return str(runs[0].info.run_id) if runs else None

    def _settle_params(self, plan: RunPlan, memory: _RunMemory) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """Params not yet on the run; a value that differs from the run's goes to a tag instead."""
        params: list[tuple[str, str]] = []
        tags = dict(plan.tags)
        for key, value in plan.params.items():
            existing = memory.params.get(key)
            if existing is None:
                params.append((key, value))
            elif existing != value:
                tags[A.TAG_PARAM_CONFLICT_PREFIX + key] = value
        return params, list(tags.items())

    def _steps(self, plan: RunPlan, memory: _RunMemory, offset: bool) -> list[tuple[str, float, int, int]]:
        """Metric tuples; in an existing run, steps continue after the run's earlier ones."""
        if not offset:
            return [(m.key, m.value, m.timestamp_ms, m.step) for m in plan.metrics]
        base = dict(memory.next_step)
        out = []
        for m in plan.metrics:
            if m.absolute:
                out.append((m.key, m.value, m.timestamp_ms, m.step))
                continue
            step = base.get(m.key, 0) + m.step
            memory.next_step[m.key] = max(memory.next_step.get(m.key, 0), step + 1)
            out.append((m.key, m.value, m.timestamp_ms, step))
        return out

    def _upload(self, run_id: str, artifacts: dict[str, str]) -> None:
        """One upload call per plan: every file staged in a temp dir, then ``log_artifacts``."""
        with tempfile.TemporaryDirectory(prefix="otel-mlflow-") as tmp:
            for rel, text in artifacts.items():
                path = os.path.join(tmp, *rel.split("/"))
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    fh.write(text)
            self._client().log_artifacts(run_id, tmp)

    def _memory(self, run_id: str, fetch: bool) -> _RunMemory:
        memory = self._runs.get(run_id)
        if memory is None:
            memory = _RunMemory()
            if fetch:
                run = self._client().get_run(run_id)
                memory.params = dict(run.data.params)
                memory.experiment_id = str(run.info.experiment_id)
            self._runs[run_id] = memory
            while len(self._runs) > _KNOWN_RUNS:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
        return memory

    def _resolve_experiment(self) -> str:
        return server.get_or_create_experiment(
            self._client(), self._config.experiment_name, self._config.artifact_root, self._config.param_fields
        )

    def _check_server(self) -> None:
        """Fail fast when an MLflow server is down, instead of waiting through MLflow's own
        request retries (minutes with the defaults); our caller retries with its own backoff."""
        if time.monotonic() < self._healthy_until:
            return
        server.require_reachable(self._config.tracking_uri)
        self._healthy_until = time.monotonic() + _PROBE_CACHE_SECONDS

    def _client(self) -> MlflowClient:
        if self._client_obj is None:
            self._client_obj = server.make_client(self._config.tracking_uri)
        return self._client_obj
