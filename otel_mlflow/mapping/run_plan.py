"""Planned MLflow writes, and the builder that keeps every key and value within MLflow's limits.

Pure: no I/O. :mod:`otel_mlflow.mapping.trace_run` (one run per trace) and :mod:`otel_mlflow.mapping.window` (one run
per serving window) both plan through :class:`PlanBuilder`, so both enforce the same limits the same way::

    builder = PlanBuilder(RunPlan(trace_id="..."), MappingOptions())
    builder.param("model", "gpt-4"); builder.metric("latency_ms", 12.5, timestamp_ms, step=0)
    builder.finish(); builder.plan
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from otel_mlflow import attributes as A
from otel_mlflow.config.eval_rule import CaseRule
from otel_mlflow.config.objectives import Objective
from otel_mlflow.mapping.feedback import FeedbackNote
from otel_mlflow.mapping.json_fit import fit_json, fit_table
from otel_mlflow.mapping.limits import (
    MAX_PARAM_VALUE_CHARS,
    MAX_TAG_VALUE_CHARS,
    clean_text,
    finite_number,
    sanitize_key,
)
from otel_mlflow.mapping.prompt_refs import linked_prompts
from otel_mlflow.scrub import Scrubber

ARTIFACT_OVERFLOW_DIR = "overflow"
TRUNCATION_MARK = "\n[... truncated by otel-mlflow: {n} more characters]"


@dataclass(frozen=True)
class MappingOptions:
    """The settings the mapping needs (a subset of :class:`otel_mlflow.config.Config`)."""

    capture_content: bool = True
    max_text_chars: int = 1_000_000
    log_spans: bool = True
    scrubber: Scrubber = field(default_factory=Scrubber, compare=False)
    """The rules that keep secrets out of every key, value and artifact (``OTEL_MLFLOW_REDACT_*``)."""
    prices: Any = field(default=None, compare=False)
    """A price source for the ``cost_usd`` metric (:mod:`otel_mlflow.mapping.cost`); None: no cost."""
    replica: str = ""
    """Which process writes (tag ``otel_mlflow.replica`` of window runs); ``replica_in_name`` adds it to their names."""
    replica_in_name: bool = False
    trace_policy: str = "off"
    """Which MLflow traces are stored (``OTEL_MLFLOW_TRACES``): tag ``otel_mlflow.trace_policy`` of window runs."""
    slo: tuple[Objective, ...] = ()
    """Objectives checked when a window closes (``OTEL_MLFLOW_SLO``, :mod:`.slo`)."""
    eval_rule: CaseRule | None = None
    """Which requests become evaluation cases (``OTEL_MLFLOW_EVAL_RULE``); None: no dataset is collected."""


@dataclass
class Metric:
    key: str
    value: float
    timestamp_ms: int
    step: int
    absolute: bool = False
    """True when the span named the step: it is kept as is, never continued after a run's earlier steps."""


@dataclass
class RunPlan:
    """Everything to write for one group of spans; keys and values already valid for MLflow."""

    trace_id: str
    run_id: str | None = None
    """An existing run to write into; ``None`` means create a run."""
    run_name: str | None = None
    start_ms: int = 0
    end_ms: int = 0
    failed: bool = False
    params: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    """relative artifact path -> text"""
    end_run: bool | None = None
    """End the run after writing: None means only a run this plan creates (see :attr:`ends_run`)."""
    identity: tuple[str, str] | None = None
    """(tag, value) naming this run alone, set at creation: how a replay finds a run a crash hid."""
    feedback: list[FeedbackNote] = field(default_factory=list)
    """Feedback to log as MLflow assessments once the traces are in MLflow (:mod:`.feedback`)."""
    only_feedback: bool = False
    """No run at all: only ``feedback`` (given after its request, by ``log_feedback``)."""
    only_traces: bool = False
    """Nothing of the run: only the job's spans as MLflow traces linked to ``run_id`` (the trace lane)."""
    experiment_id: str | None = None
    """With ``only_traces``: the run's experiment when known (else looked up)."""
    points: tuple[int, int] | None = None
    """A window's per-second points once this plan is written: (the second steps count from, the last one logged)."""
    dropped_metrics: int = 0
    dropped_tokens: int = 0
    backwards_spans: int = 0
    truncated_texts: int = 0
    slo_breaches: list[str] = field(default_factory=list)
    """A closing window's objectives not met (``latency_ms.p95<800 (912)``): the writer warns once it is written."""
    notices: list[str] = field(default_factory=list)
    """What the writer warns about once this plan ends its run (a silent model change: :mod:`.model_change`)."""
    alert: dict[str, Any] | None = None
    """A breaching window's alert (:func:`.slo.slo_alert`); the writer adds the run's id and URL and posts it."""
    eval_cases: list[dict[str, Any]] = field(default_factory=list)
    """A closing window's requests picked as evaluation cases (:mod:`.eval_cases`): added once the run has ended."""

    @property
    def ends_run(self) -> bool:
        """True when writing this plan ends its run: as ``end_run`` says, else only a run the plan creates."""
        return self.end_run if self.end_run is not None else self.run_id is None


class PlanBuilder:
    """Accumulates writes into a plan, enforcing limits as it goes."""

    def __init__(self, plan: RunPlan, options: MappingOptions, artifact_prefix: str = "") -> None:
        self.plan = plan
        self.options = options
        self.prefix = artifact_prefix

    def param(self, key: str, value: Any) -> None:
        if value is None:
            return
        text = _to_text(self.options.scrubber.value(key, value))
        key = self._key(key)
        text = self._fit(key, text, MAX_PARAM_VALUE_CHARS, "params")
        existing = self.plan.params.get(key)
        if existing is None:
            self.plan.params[key] = text
        elif existing != text:
            self.tag(A.TAG_PARAM_CONFLICT_PREFIX + key, text)

    def tag(self, key: str, value: Any) -> None:
        if value is None:
            return
        text = _to_text(self.options.scrubber.value(key, value))
        key = self._key(key)
        self.plan.tags[key] = self._fit(key, text, MAX_TAG_VALUE_CHARS, "tags")

    def metric(self, key: str, value: Any, timestamp_ms: int, step: int, absolute: bool = False) -> None:
        if value is None:
            return
        number = finite_number(value)
        if number is None:
            self.plan.dropped_metrics += 1
            return
        self.plan.metrics.append(Metric(self._key(key), number, int(timestamp_ms), int(step), absolute))

    def artifact(self, path: str, text: str) -> None:
        text = self._clean(text)
        limit = self.options.max_text_chars
        if len(text) > limit:
            text = text[:limit] + TRUNCATION_MARK.format(n=len(text) - limit)
            self.plan.truncated_texts += 1
        self.plan.artifacts[self.prefix + path] = text

    def json_artifact(self, path: str, data: Any, indent: int | None = None, scrubbed: bool = False) -> None:
        """A JSON artifact that stays valid JSON within ``max_text_chars``: long strings are cut inside it.
        ``scrubbed``: every string of ``data`` went through the scrubber already (spans.json)."""
        text, cut = fit_json(data, self.options.max_text_chars, clean_text if scrubbed else self._clean, indent)
        self.plan.truncated_texts += int(cut)
        self.plan.artifacts[self.prefix + path] = text

    def table_artifacts(self, path: str, part_path: str, columns: list[str], rows: list[list[Any]]) -> list[str]:
        """A table as JSON artifacts of at most ``max_text_chars`` each, every row kept: ``path`` holds the first
        rows, ``part_path.format(part=2)`` and on the rest. Returns the paths written, in order."""
        parts, cut = fit_table(columns, rows, self.options.max_text_chars, self._clean)
        self.plan.truncated_texts += int(cut)
        paths = [path] + [part_path.format(part=n) for n in range(2, len(parts) + 1)]
        for name, text in zip(paths, parts, strict=True):
            self.plan.artifacts[self.prefix + name] = text
        return paths

    def _clean(self, text: str) -> str:
        return self.options.scrubber.text(clean_text(text))

    def finish(self) -> None:
        """The last step of every plan: its run name made storable (a lone surrogate in a question once blocked its
        run for ever: sqlite refuses it, every retry alike), and counts of what was dropped or cut as tags."""
        if self.plan.run_name is not None:
            self.plan.run_name = clean_text(self.plan.run_name)
        if A.PARAM_PROMPT in self.plan.params:  # the prompt versions used, as MLflow's UI shows a run's prompts
            self.tag(A.MLFLOW_LINKED_PROMPTS, linked_prompts(self.plan.params[A.PARAM_PROMPT]))
        if self.plan.dropped_metrics:
            self.tag(A.TAG_DROPPED_METRICS, str(self.plan.dropped_metrics))
        for tag, count in (
            (A.TAG_DROPPED_TOKENS, self.plan.dropped_tokens),
            (A.TAG_BACKWARDS_SPANS, self.plan.backwards_spans),
        ):
            if count:
                self.tag(tag, str(count))
        if self.plan.truncated_texts:
            self.tag(A.TAG_TRUNCATED, str(self.plan.truncated_texts))

    def _key(self, key: str) -> str:
        """A valid MLflow key with no secret in it (a key is a name an attacker may choose too)."""
        return sanitize_key(self.options.scrubber.key(key))

    def _fit(self, key: str, text: str, limit: int, kind: str) -> str:
        """Cut ``text`` (scrubbed already) to ``limit`` chars; the full text goes to an overflow artifact."""
        if len(text) <= limit:
            return text
        path = f"{ARTIFACT_OVERFLOW_DIR}/{kind}/{overflow_name(key)}.txt"
        self.artifact(path, text)
        note = f"... [full value in artifact {self.prefix}{path}]"
        return text[: limit - len(note)] + note


def overflow_name(key: str) -> str:
    """A file name for ``key``'s full value that no other key's can collide with: MLflow keys may hold ``/``,
    and ``a`` and ``a.txt/b`` would need ``a.txt`` as a file and as a folder. A key with ``/`` is flattened
    and given a short hash of itself, the same every time."""
    if "/" not in key:
        return key
    return key.replace("/", "_") + "-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _to_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return clean_text(json.dumps(list(value), ensure_ascii=False, default=str))
    return clean_text(str(value))
