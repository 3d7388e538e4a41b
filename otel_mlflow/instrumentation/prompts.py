"""Which MLflow prompt registry version a request used: part of its configuration (window runs split by it), a param
of its run, and MLflow's prompt-version link on its run and trace::

    prompt = mlflow.genai.load_prompt("prompts:/rag-answer@production")   # resolves the alias to a version
    otel_mlflow.use_prompt(prompt)                 # on the current span; or use_prompt("prompts:/rag-answer/3")
    log_llm_call(model="gpt-4o", prompt=text, response=answer, prompt_uri="prompts:/rag-answer/3")
"""

from __future__ import annotations

import re
from typing import Any

from opentelemetry import trace

from otel_mlflow import attributes as A

_HOW = (
    "give 'prompts:/<name>/<version>' or the PromptVersion mlflow.genai.load_prompt returns (an alias such as "
    "prompts:/name@production: load it first, then pass what load_prompt gives)"
)


def prompt_uri_of(prompt: Any) -> str:
    """``prompts:/name/3`` for a URI or an MLflow ``PromptVersion``; :class:`ValueError` naming the forms else."""
    if isinstance(prompt, str):
        uri = prompt.strip()
    elif getattr(prompt, "name", None) is not None and getattr(prompt, "version", None) is not None:
        uri = f"prompts:/{prompt.name}/{prompt.version}"
    else:
        raise ValueError(f"not a prompt version: {prompt!r}; {_HOW}")
    if not re.fullmatch(A.PROMPT_URI_PATTERN, uri):
        raise ValueError(f"not a prompt version URI: {uri!r}; {_HOW}")
    return uri


def use_prompt(prompt: Any) -> str:
    """Record on the current span that this request used ``prompt`` (several calls add up); returns its URI. Without
    a recording span (no request in progress, tracing off) nothing is recorded."""
    uri = prompt_uri_of(prompt)
    span = trace.get_current_span()
    if span.is_recording():
        before = (getattr(span, "attributes", None) or {}).get(A.PROMPT_URI)
        used = [before] if isinstance(before, str) else list(before or ())
        span.set_attribute(A.PROMPT_URI, sorted({*used, uri}))
    return uri
