"""MLflow prompt registry versions named on a span. Pure::

    prompt_uris({"otel_mlflow.prompt": "prompts:/rag-answer/3"})                          # ("prompts:/rag-answer/3",)
    prompt_uris({"mlflow.linkedPrompts": '[{"name": "rag-answer", "version": "3"}]'})     # the same
    prompt_param(("prompts:/a/1", "prompts:/b/2"))                                        # "prompts:/a/1,prompts:/b/2"

Only numbered versions count: an alias (``prompts:/name@production``) names whichever version it points to at the
time, so it could not tell two configurations apart; resolve it in the app (``mlflow.genai.load_prompt``) and pass the
version it gives.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from otel_mlflow import attributes as A

PROMPT_URI = re.compile(A.PROMPT_URI_PATTERN)
MAX_PROMPTS = 10
"""Prompt versions read from one span at most (a hostile span never makes a huge param)."""


def prompt_uris(attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The prompt versions ``attrs`` names, as ``prompts:/name/version``, sorted and each once."""
    found: set[str] = set()
    given = attrs.get(A.PROMPT_URI)
    for value in given if isinstance(given, list | tuple) else [given]:
        if isinstance(value, str) and PROMPT_URI.fullmatch(value.strip()):
            found.add(value.strip())
    linked = attrs.get(A.MLFLOW_LINKED_PROMPTS)
    if isinstance(linked, str):
        try:
            entries = json.loads(linked)
        except ValueError:
            entries = []
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                uri = f"prompts:/{entry.get('name')}/{entry.get('version')}"
                if PROMPT_URI.fullmatch(uri):
                    found.add(uri)
    return tuple(sorted(found)[:MAX_PROMPTS])


def prompt_param(uris: Iterable[str]) -> str:
    """The run param's value: the versions, comma-separated."""
    return ",".join(sorted(set(uris)))


def split_param(value: str | None) -> tuple[tuple[str, int], ...]:
    """(name, version) of each version in a :data:`otel_mlflow.attributes.PARAM_PROMPT` value."""
    out = []
    for uri in (value or "").split(","):
        match = PROMPT_URI.fullmatch(uri.strip())
        if match:
            out.append((match.group(1), int(match.group(2))))
    return tuple(out)


def linked_prompts(value: str | None) -> str | None:
    """MLflow's ``mlflow.linkedPrompts`` tag value (JSON ``[{"name": ..., "version": "3"}]``, what its UI shows as a
    run's or trace's prompts) for a :data:`otel_mlflow.attributes.PARAM_PROMPT` value; None when it names none."""
    pairs = split_param(value)
    return json.dumps([{"name": name, "version": str(version)} for name, version in pairs]) if pairs else None
