"""MLflow's prompt-version links on the runs and traces of requests that used registered prompts (a run's
``mlflow.linkedPrompts`` tag comes with its plan: :func:`otel_mlflow.mapping.prompt_refs.linked_prompts`)::

    links = PromptLinks()
    links.link_run(client, run_id, plan.params["prompt"])          # once the run exists
    links.link_traces(client, spans, experiment_id, trace_id_of)   # once the traces are stored

Each stored trace naming prompt versions gets the ``mlflow.linkedPrompts`` tag, and each version that exists in the
registry the store's trace-to-prompt association (what the prompt's page lists). MLflow's own
``link_prompt_versions_to_trace`` writes to the *global* tracking store, possibly not ours: the calls here go through
this writer's client (the store's ``link_prompts_to_trace``, pinned by ``tests/test_prompts.py``). Both are
idempotent, so a retried write links nothing twice. A version missing from the registry is told (one warning a
minute), tag kept, and looked up again a minute later (registered since: linked from then on); a store without a
registry, or any error but a transient one, leaves the link out with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cachetools import TTLCache

from otel_mlflow import attributes as A
from otel_mlflow.export.mlflow.server import unless_lasting
from otel_mlflow.mapping.prompt_refs import linked_prompts, prompt_param, prompt_uris, split_param
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

_warnings = RateLimitedLog(get_logger(__name__))


RUN_IDS_TAG = "mlflow.prompt.associatedRunIds"
"""The prompt version's tag MLflow's ``list_logged_prompts(run_id)`` searches: the runs that used it."""
MAX_RUN_IDS_CHARS = 20_000
"""The newest run ids kept in that tag (a window run per hour for years would pass MLflow's tag limit)."""
VERSION_CACHE_SIZE, VERSION_CACHE_SECONDS = 1024, 60.0
"""Prompt versions remembered (found or missing) at most, and for how long: one registry read per version a minute."""


class PromptLinks:
    def __init__(self) -> None:
        # a bounded, expiring cache (cachetools, which MLflow already uses): any client may name any prompt version,
        # and a version registered after a miss is linked within VERSION_CACHE_SECONDS
        self._versions: TTLCache[tuple[str, int], Any] = TTLCache(VERSION_CACHE_SIZE, VERSION_CACHE_SECONDS)

    def link_run(self, client: Any, run_id: str, value: str) -> None:
        """The run among the runs of each registered version in ``value`` (a ``prompt`` param): what MLflow's
        ``list_logged_prompts`` reads. Read just before it is written: other processes add theirs too."""
        unless_lasting(self._link_run, client, run_id, value, tell=_left_out)

    def _link_run(self, client: Any, run_id: str, value: str) -> None:
        for name, version in split_param(value):
            if self._version(client, name, version) is None:
                continue
            tags = client.get_prompt_version(name, version).tags or {}
            ids = [i for i in str(tags.get(RUN_IDS_TAG, "")).split(",") if i]
            if run_id not in ids:
                text = ",".join([*ids, run_id])
                client.set_prompt_version_tag(name, version, RUN_IDS_TAG, text[-MAX_RUN_IDS_CHARS:].lstrip(","))

    def link_traces(
        self,
        client: Any,
        spans: Sequence[ReadableSpan],
        experiment_id: str,
        trace_id_of: Callable[[str, str], str],
    ) -> int:
        """Link the stored traces of ``spans`` to the prompt versions their spans name; returns traces linked."""
        return unless_lasting(self._link_traces, client, spans, experiment_id, trace_id_of, tell=_left_out) or 0

    def _link_traces(
        self,
        client: Any,
        spans: Sequence[ReadableSpan],
        experiment_id: str,
        trace_id_of: Callable[[str, str], str],
    ) -> int:
        per_trace: dict[str, set[str]] = {}
        for span in spans:
            named = prompt_uris(span.attributes or {})
            if named and span.context is not None:
                per_trace.setdefault(f"{span.context.trace_id:032x}", set()).update(named)
        for otel_hex, uris in per_trace.items():
            trace_id, value = trace_id_of(otel_hex, experiment_id), prompt_param(uris)
            client.set_trace_tag(trace_id, A.MLFLOW_LINKED_PROMPTS, linked_prompts(value))
            versions = [v for v in (self._version(client, *pair) for pair in split_param(value)) if v is not None]
            if versions:
                client._tracking_client.store.link_prompts_to_trace(trace_id=trace_id, prompt_versions=versions)
        return len(per_trace)

    def _version(self, client: Any, name: str, version: int) -> Any:
        """The registry's version (None when missing), read at most once a cache period."""
        if (name, version) not in self._versions:
            found = None
            try:
                found = client.get_prompt_version(name, version)
            except Exception as exc:
                if (
                    "RESOURCE_DOES_NOT_EXIST" not in str(getattr(exc, "error_code", ""))
                    and "not found" not in str(exc).lower()
                ):
                    raise
            if found is None:
                _warnings.warn(  # one kind for all: any client may name any version, the log stays readable
                    "prompt-missing",
                    "otel-mlflow: prompt version prompts:/%s/%d is not in MLflow's prompt registry: traces and runs "
                    "name it (tag mlflow.linkedPrompts) without a registry link; register it (mlflow.genai."
                    "register_prompt) in this tracking store",
                    name,
                    version,
                )
            self._versions[(name, version)] = found
        return self._versions[(name, version)]


def _left_out(exc: Exception) -> None:
    _warnings.warn("prompt-link", "otel-mlflow: a prompt-version link was left out: %s", exc)
