"""Secrets out of everything otel-mlflow writes or prints: one set of rules for every way out.

Run names, params, tags, metric keys, text and JSON artifacts, spans sent to MLflow's ``/v1/traces``
(attributes, status, events, links, resource), the helper API and ``@log_training_run``, log lines and
``otel-mlflow doctor`` all pass through a :class:`Scrubber`::

    from otel_mlflow.scrub import Scrubber, default_scrubber, REDACTED

    default_scrubber().text("password=hunter2")   # "password=[redacted]"

Rules (RELIABILITY.md lists them with their tests): keys, after Sentry/Relay's default deny-list
(:mod:`.keys`); values, after gitleaks' provider formats and Relay's bearer/password rules (:mod:`.values`);
the user's ``OTEL_MLFLOW_REDACT_PATTERNS`` (time-bounded), ``OTEL_MLFLOW_REDACT_KEYS`` and
``OTEL_MLFLOW_REDACT_ALLOW_KEYS`` (:class:`otel_mlflow.config.ScrubSettings`).
"""

from otel_mlflow.scrub.keys import is_secret_key
from otel_mlflow.scrub.logs import ScrubbingFilter, get_logger
from otel_mlflow.scrub.scrubber import TIMED_OUT, Scrubber, default_scrubber
from otel_mlflow.scrub.values import REDACTED, mask_whole, scrub_text

__all__ = [
    "REDACTED",
    "TIMED_OUT",
    "Scrubber",
    "ScrubbingFilter",
    "default_scrubber",
    "get_logger",
    "is_secret_key",
    "mask_whole",
    "scrub_text",
]
