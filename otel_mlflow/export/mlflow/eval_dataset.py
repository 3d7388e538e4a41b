"""Production cases into an MLflow GenAI evaluation dataset (``OTEL_MLFLOW_EVAL_DATASET``), from the writer::

    dataset = EvalDataset("rag-failures")
    dataset.add(client, experiment_id, plan.eval_cases, trace_id_of)   # after the window's run has ended

The dataset is found by name in the experiment, else created there (tag ``created_by=otel-mlflow``). Records go
through the tracking store's ``upsert_dataset_records``: MLflow's public ``EvaluationDataset.merge_records`` writes to
the *global* tracking URI, which in an app may be another store than ours; the client's store is the one this writer
was given (a private attribute, pinned by ``tests/test_eval_dataset.py``). MLflow keys records by their inputs, so a
replayed write updates the case it wrote instead of adding another. A case whose trace was stored names it as its
source (``TRACE``: MLflow's UI links the two). A store that keeps no datasets (a file store) is told once; any error
but a transient one loses the cases with a warning, never the run (its write is done by then).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from otel_mlflow.export.mlflow.server import unless_lasting
from otel_mlflow.ratelimit import RateLimitedLog
from otel_mlflow.scrub import get_logger

_logger = get_logger(__name__)
_warnings = RateLimitedLog(_logger)
CREATED_BY = {"created_by": "otel-mlflow"}


class EvalDataset:
    def __init__(self, name: str) -> None:
        self.name = name
        self._ids: dict[str, str] = {}
        self._refused = False

    def add(
        self,
        client: Any,
        experiment_id: str,
        cases: Sequence[dict[str, Any]],
        trace_id_of: Callable[[str, str], str],
    ) -> int:
        """Add (or update) ``cases``; returns how many were sent. A connection error or MLflow 5xx is raised: the write
        is retried, and a retry adds nothing twice. Any other error loses these cases, with a warning: never the run
        they came from."""
        if self._refused or not cases:
            return 0

        def tell(exc: Exception) -> None:
            _warnings.warn(
                "cases", "otel-mlflow: %d evaluation case(s) not added to %r: %s", len(cases), self.name, exc
            )

        return unless_lasting(self._add, client, experiment_id, cases, trace_id_of, tell=tell) or 0

    def _add(
        self,
        client: Any,
        experiment_id: str,
        cases: Sequence[dict[str, Any]],
        trace_id_of: Callable[[str, str], str],
    ) -> int:
        try:
            dataset_id = self._dataset_id(client, experiment_id)
        except Exception as exc:
            if not isinstance(exc, NotImplementedError) and getattr(exc, "error_code", None) != "FEATURE_DISABLED":
                raise
            self._refused = True  # MLflow's file store: told once, never tried again
            _logger.warning(
                "otel-mlflow: evaluation cases are not collected: the tracking store keeps no GenAI evaluation "
                "datasets (%s); use a database store or server, or unset OTEL_MLFLOW_EVAL_DATASET",
                exc or type(exc).__name__,
            )
            return 0
        records = []
        for case in cases:
            record = {k: v for k, v in case.items() if k in ("inputs", "outputs", "expectations", "tags")}
            if case.get("trace_stored"):
                mlflow_id = trace_id_of(case["trace_id"], experiment_id)
                record["source"] = {"source_type": "TRACE", "source_data": {"trace_id": mlflow_id}}
            records.append(record)
        client._tracking_client.store.upsert_dataset_records(dataset_id=dataset_id, records=records)
        return len(records)

    def _dataset_id(self, client: Any, experiment_id: str) -> str:
        if experiment_id not in self._ids:
            quoted = self.name.replace("'", "\\'")
            found = client.search_datasets(experiment_ids=[experiment_id], filter_string=f"name = '{quoted}'")
            mine = sorted(found, key=lambda d: (d.created_time or 0, d.dataset_id))
            dataset = (
                mine[0] if mine else client.create_dataset(self.name, experiment_id=experiment_id, tags=CREATED_BY)
            )
            self._ids[experiment_id] = dataset.dataset_id
        return self._ids[experiment_id]
