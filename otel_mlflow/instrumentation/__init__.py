"""What makes spans: ``@trace_llm`` and ``llm_span`` (:mod:`.llm_span`), the GenAI attributes of an LLM
call (:mod:`.genai_attributes`), the old experiment-tracking helper API (:mod:`.helpers`) and the MLflow
run a span belongs to (:mod:`.run_binding`).

Imports only :mod:`otel_mlflow.attributes`, :mod:`otel_mlflow.config` and :mod:`otel_mlflow.sigterm` from
the rest of the package: never the exporter. The helper API reaches MLflow through the backend that
:mod:`otel_mlflow.wiring` registers (see :mod:`.helpers`). ``instrumentors/`` builds on this package.
"""
