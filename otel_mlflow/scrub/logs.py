"""Log lines scrubbed like everything else: a filter on each of otel-mlflow's loggers.

Usage (instead of ``logging.getLogger(__name__)`` in every module of the package)::

    from otel_mlflow.scrub import get_logger

    _log = get_logger(__name__)
    _log.warning("MLflow refused %s", uri)   # a password in ``uri`` is masked in the line and its traceback
"""

from __future__ import annotations

import logging
import traceback


class ScrubbingFilter(logging.Filter):
    """Masks credentials in a record's message and in its exception text before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        from otel_mlflow.scrub.scrubber import default_scrubber

        scrub = default_scrubber()
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: leave it to logging's own error report
            return True
        clean = scrub.text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub.text("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        return True


_FILTER = ScrubbingFilter()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the scrubbing filter attached (once)."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
