"""Every setting of every part of otel-mlflow, in one table; each read once: argument, environment, default.

Usage::

    from otel_mlflow.config import Config, CaptureOptions, LLMServiceSettings, ReceiverSettings

    config = Config.from_env()                      # the exporter: environment and defaults
    config = Config.from_env(experiment_name="rag")  # an argument wins over the environment

A bad value raises :class:`ConfigError` naming the variable at construction, never a silent
default at export time.

Parts: :mod:`.exporter` (:class:`Config`), :mod:`.capture` (the instrumentors), :mod:`.receiver`, :mod:`.scrub`;
every row in :mod:`.settings`. Every number must be finite and greater than 0 (``inf`` is refused: it would stop the
writer).

Every variable, its keyword, default and meaning, one row each in :mod:`.settings` (the README's table is made
from the same rows; ``otel-mlflow doctor`` prints them resolved):
"""

from __future__ import annotations

from otel_mlflow.config import settings as _settings
from otel_mlflow.config.capture import (
    CaptureOptions,
    LLMServiceSettings,
    capture_content_from_env,
    capture_content_or_off,
)
from otel_mlflow.config.errors import ConfigError
from otel_mlflow.config.exporter import Config, is_server_uri
from otel_mlflow.config.receiver import ReceiverSettings
from otel_mlflow.config.scrub import ScrubSettings
from otel_mlflow.config.service import default_service_name, service_name_given
from otel_mlflow.config.setting import text_table
from otel_mlflow.config.settings import *  # noqa: F403 - every variable's row, from one place

__doc__ = (__doc__ or "") + "\n" + text_table(_settings.SETTINGS)

__all__ = [
    "CaptureOptions",
    "Config",
    "ConfigError",
    "LLMServiceSettings",
    "ReceiverSettings",
    "ScrubSettings",
    "capture_content_from_env",
    "capture_content_or_off",
    "default_service_name",
    "is_server_uri",
    "service_name_given",
]
