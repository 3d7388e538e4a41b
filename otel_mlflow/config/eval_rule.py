"""The grammar of ``OTEL_MLFLOW_EVAL_RULE``: which production requests become evaluation cases::

rule = parse_rule("failed,latency_ms>2000,feedback=negative")
rule.failed, rule.slower_than_ms, rule.feedback      # True, 2000.0, ("negative",)
rule.reason(failed=False, latency_ms=2500.0, feedback=None)   # "slow" (None: not a case)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DEFAULT_RULE = ("failed", "feedback=negative")
NEGATIVE_FEEDBACK = frozenset(
    {"wrong", "unhelpful", "not_helpful", "bad", "incorrect", "thumbs_down", "negative", "no", "false", "0", "-1"}
)
"""Feedback values ``feedback=negative`` stands for (compared in lower case)."""
_TERM = re.compile(r"^(failed|latency_ms\s*>\s*([0-9.eE+]+)|feedback\s*=\s*(\S+))$")
EXAMPLE = "failed,latency_ms>2000,feedback=negative"


@dataclass(frozen=True)
class CaseRule:
    failed: bool = False
    slower_than_ms: float | None = None
    feedback: tuple[str, ...] = ()

    def reason(self, failed: bool, latency_ms: float, feedback: str | None) -> str | None:
        """Why a request is a case (``failed``, ``slow``, ``feedback=<value>``), or None."""
        if self.failed and failed:
            return "failed"
        if self.slower_than_ms is not None and latency_ms > self.slower_than_ms:
            return "slow"
        value = (feedback or "").strip().lower()
        if value and any(v == value or (v == "negative" and value in NEGATIVE_FEEDBACK) for v in self.feedback):
            return f"feedback={feedback}"
        return None


def parse_rule(terms: tuple[str, ...] | str) -> CaseRule:
    """Comma-separated terms; :class:`ValueError` naming the one that is none of the forms."""
    failed, slower, feedback = False, None, []
    for term in (t.strip() for t in (terms.split(",") if isinstance(terms, str) else terms) if t.strip()):
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"{term!r} is not failed, latency_ms>N or feedback=VALUE, e.g. {EXAMPLE}")
        if match.group(2) is not None:
            try:
                slower = float(match.group(2))
            except ValueError:
                slower = math.nan
            if not math.isfinite(slower):
                raise ValueError(f"{term!r}: latency_ms> needs a number of milliseconds, e.g. latency_ms>2000")
        elif match.group(3) is not None:
            feedback.append(match.group(3).lower())
        else:
            failed = True
    return CaseRule(failed, slower, tuple(feedback))
