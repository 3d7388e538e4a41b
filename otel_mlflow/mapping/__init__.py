"""Pure mapping: finished spans in, planned MLflow writes out. No I/O, no ``mlflow`` import.

- :mod:`.span_facts`: what one span says, whatever convention it follows (GenAI, OpenInference, ...)
- :mod:`.trace_run`: a trace's spans -> one :class:`~.run_plan.RunPlan` (a run per trace)
- :mod:`.request_record` / :mod:`.window`: a served request -> a record; a serving window's records ->
  metric steps and a closing plan (aggregates, predictions table)
- :mod:`.run_plan`: planned writes and the builder that keeps them within MLflow's limits (:mod:`.limits`)
- :mod:`.scrub`: secrets out of every value; :mod:`.span_json`: spans as JSON for ``spans.json`` and links
"""
