"""OpenTelemetry instrumentors for LLM applications (FastAPI, the LLM service), one module each."""
