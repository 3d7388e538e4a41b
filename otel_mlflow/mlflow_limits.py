"""MLflow's write limits and key rule (MLflow 3.x, ``mlflow.utils.validation``), copied here so that
importing otel-mlflow never imports mlflow. A leaf: the mapping cuts values to fit them, the helper API
checks its arguments against them before starting a run.

Usage::

    from otel_mlflow.mlflow_limits import is_valid_key, MAX_PARAM_VALUE_CHARS

    is_valid_key("gen_ai.usage.input_tokens")  # True
    is_valid_key("prompt (v2)?")               # False
"""

from __future__ import annotations

import posixpath
import re

MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_REQUEST_BYTES = 900_000  # MLflow refuses 1e6; keep a margin for JSON framing
MAX_PARAM_VALUE_CHARS = 6000
MAX_TAG_VALUE_CHARS = 8000
MAX_EXPERIMENT_TAG_VALUE_CHARS = 5000  # 20,000 in MLflow 3.17; 5,000 in older servers
MAX_KEY_CHARS = 250

VALID_KEY = re.compile(r"^[/\w.\- :]*$")
"""The characters MLflow accepts in a param, metric or tag name."""


def is_valid_key(key: str) -> bool:
    """True when MLflow accepts ``key`` as a param, metric or tag name."""
    if not key or len(key) > MAX_KEY_CHARS or not VALID_KEY.match(key):
        return False
    norm = posixpath.normpath(key)
    return norm == key and norm != "." and not norm.startswith("..") and not norm.startswith("/")
