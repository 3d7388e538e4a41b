"""At most one warning per kind per minute: a store that stays down, or a bug hit on every call, must not
flood the app's log. Used by the exporter and by the instrumentation's guard around its own code::

    warnings = RateLimitedLog(logging.getLogger(__name__))
    warnings.warn("retry", "write failed (attempt %d): %s", attempt, error)
"""

from __future__ import annotations

import logging
import time
from typing import Any

WARN_EVERY_SECONDS = 60.0


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, every: float = WARN_EVERY_SECONDS) -> None:
        self._logger = logger
        self._every = every
        self._at: dict[str, float] = {}

    def warn(self, kind: str, message: str, *args: Any, exc_info: bool = False) -> None:
        """Log ``message`` at WARNING unless a warning of ``kind`` was logged less than a minute ago."""
        now = time.monotonic()
        last = self._at.get(kind)
        if last is None or now - last >= self._every:
            self._at[kind] = now
            self._logger.warning(message, *args, exc_info=exc_info)
