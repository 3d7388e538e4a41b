"""Feedback that came before its request was filed: remembered, and set on the request's record when it is.

Feedback is given after its answer, but it may reach the exporter first: sent by another service whose batch
came sooner, or in a spool file merged before the request's. A plain data structure: the ledger holds its lock
around every call (through :class:`~otel_mlflow.export.pending.windows.Windows`). Usage::

    early = EarlyFeedback(seconds=60.0)
    early.remember(trace_id, "helpful", now)     # the feedback's request is not filed yet
    early.take(trace_id, now)                    # "helpful" when its request is filed within 60 s, else None
"""

from __future__ import annotations

from collections import OrderedDict

EARLY_FEEDBACK_MAX = 10_000
"""Feedback on requests not filed yet, remembered at most (anyone may post feedback naming any trace)."""


class EarlyFeedback:
    """Feedback values by trace id, for ``seconds`` (a window's length) at most; past :data:`EARLY_FEEDBACK_MAX` the
    oldest is forgotten first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._notes: OrderedDict[int, tuple[str, float]] = OrderedDict()  # trace id -> (value, when it came)

    def remember(self, trace_id: int, value: str, now: float) -> None:
        self._notes.pop(trace_id, None)  # a later click on the same answer wins, as it does once filed
        self._notes[trace_id] = (value, now)
        while self._notes and (
            len(self._notes) > EARLY_FEEDBACK_MAX or now - next(iter(self._notes.values()))[1] > self.seconds
        ):
            self._notes.popitem(last=False)

    def take(self, trace_id: int, now: float) -> str | None:
        """The value given on ``trace_id``'s request before it was filed (None: none, or too long ago)."""
        value, at = self._notes.pop(trace_id, (None, now))
        return value if now - at <= self.seconds else None
