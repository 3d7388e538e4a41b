"""The one error a setting raises."""

from __future__ import annotations


class ConfigError(ValueError):
    """A setting has a value otel-mlflow cannot use; the message names the variable and the fix."""
