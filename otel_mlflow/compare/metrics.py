"""What is compared of two configurations' requests, and how. Pure::

    results = compare_requests(baseline_requests, candidate_requests)   # one MetricComparison per metric

Per request: latency and time to first chunk (medians: what a user waits, robust to the odd slow one), input and
output tokens and cost (means: totals and bills are sums), error rate and the share of each feedback value among the
requests that got feedback (the :data:`MAX_FEEDBACK_VALUES` most frequent values). A metric a side never had (no
request streamed, no price known) is left out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from otel_mlflow.compare.reading import Request
from otel_mlflow.compare.statistics import MetricComparison, Statistic, compare_shares, compare_values

VALUES: tuple[tuple[str, Callable[[Request], float | None], Statistic], ...] = (
    ("latency_ms", lambda r: r.latency_ms, "median"),
    ("time_to_first_chunk_ms", lambda r: r.time_to_first_chunk_ms, "median"),
    ("input_tokens", lambda r: r.input_tokens, "mean"),
    ("output_tokens", lambda r: r.output_tokens, "mean"),
    ("cost_usd", lambda r: r.cost_usd, "mean"),
)
MAX_FEEDBACK_VALUES = 3


def compare_requests(
    baseline: Sequence[Request], candidate: Sequence[Request], seed: int = 0
) -> list[MetricComparison]:
    """Every metric both sides have, candidate against baseline (p-values not yet adjusted)."""
    results: list[MetricComparison | None] = []
    for name, value, statistic in VALUES:
        a = [v for r in baseline if (v := value(r)) is not None]
        b = [v for r in candidate if (v := value(r)) is not None]
        results.append(compare_values(name, a, b, statistic, seed))
    results.append(
        compare_shares(
            "error_rate",
            sum(r.failed for r in baseline),
            len(baseline),
            sum(r.failed for r in candidate),
            len(candidate),
        )
    )
    given_a = Counter(r.feedback for r in baseline if r.feedback is not None)
    given_b = Counter(r.feedback for r in candidate if r.feedback is not None)
    for given, _ in (given_a + given_b).most_common(MAX_FEEDBACK_VALUES):
        results.append(
            compare_shares(
                f"feedback.{given}.share",
                given_a[given],
                sum(given_a.values()),
                given_b[given],
                sum(given_b.values()),
            )
        )
    return [r for r in results if r is not None]
