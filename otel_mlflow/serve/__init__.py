"""``otel-mlflow receive``: the OTLP endpoint (:mod:`.receiver`) and OTLP request bodies
(:mod:`.otlp_request`), writing through :class:`~otel_mlflow.export.exporter.MLflowSpanExporter`."""
