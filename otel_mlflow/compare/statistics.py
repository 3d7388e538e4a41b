"""Two configurations' requests compared, one metric at a time, with tests that fit unpaired production traffic.
Pure: numbers in, numbers out (scipy does the statistics; no MLflow, no I/O)::

    r = compare_values("latency_ms", baseline_ms, candidate_ms, statistic="median")
    r.diff, r.ci_low, r.ci_high, r.p_value, r.effect_size     # candidate minus baseline
    r = compare_shares("error_rate", errors_a, requests_a, errors_b, requests_b)
    adjusted = adjust([r.p_value for r in results])           # Benjamini-Hochberg

- Latencies, time to first chunk (medians), tokens and cost per request (means): the difference of the statistic with
  a bootstrap 95% interval (percentile method, resampling each side), the two-sided Mann-Whitney U test's p-value (no
  normality assumed: latencies are skewed) and the rank-biserial correlation as effect size (-1..1: the share of
  pairs where the candidate is higher minus the share where it is lower).
- Rates (error rate, a feedback value's share): the difference of the two proportions with Newcombe's interval
  (from Wilson's), the two-proportion z-test's p-value (a chi-square test of the 2x2 table without continuity
  correction; Fisher's exact test when an expected count is under 5) and Cohen's h as effect size.
- Many metrics and configurations at once: :func:`adjust` controls the false discovery rate (Benjamini-Hochberg).

Too little traffic: fewer than :data:`MIN_REQUESTS` requests on a side (or, for a rate, fewer than
:data:`MIN_EVENTS` events on both sides together) is reported with its figures but never called significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from scipy import stats

MIN_REQUESTS = 30
"""Fewer requests than this on a side: the comparison is shown but never called significant (tests on a handful
of skewed latencies, or a rate from a few requests, say little; README "How little traffic is too little")."""
MIN_EVENTS = 5
"""A rate needs this many events (errors, feedback values) on both sides together before it is judged."""
CONFIDENCE = 0.95
ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000

Statistic = Literal["median", "mean"]


@dataclass(frozen=True)
class MetricComparison:
    """One metric, candidate against baseline: ``diff`` = candidate - baseline, with its interval and test."""

    metric: str
    statistic: str
    """``median``, ``mean`` or ``share``."""
    baseline: float
    candidate: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    effect_size: float
    n_baseline: int
    n_candidate: int
    test: str
    enough: bool
    """Enough traffic to judge (:data:`MIN_REQUESTS`, :data:`MIN_EVENTS`)."""
    p_adjusted: float = math.nan
    """``p_value`` after Benjamini-Hochberg over every comparison made together (:func:`adjust`)."""

    @property
    def significant(self) -> bool:
        return self.enough and self.p_adjusted < ALPHA


def compare_values(
    metric: str,
    baseline: Sequence[float],
    candidate: Sequence[float],
    statistic: Statistic = "median",
    seed: int = 0,
) -> MetricComparison | None:
    """Per-request values of two configurations (None when a side has fewer than 2)."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return None
    center = np.median if statistic == "median" else np.mean

    def diff(cand: np.ndarray, base: np.ndarray, axis: int = -1) -> np.ndarray:
        return center(cand, axis=axis) - center(base, axis=axis)

    interval = stats.bootstrap(
        (b, a),
        diff,
        vectorized=True,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=CONFIDENCE,
        method="percentile",
        batch=200,  # bounds memory at large n: 200 resamples of each side at a time
        rng=np.random.default_rng(seed),
    ).confidence_interval
    if np.all(a == a[0]) and np.all(b == b[0]) and a[0] == b[0]:
        u, p = len(a) * len(b) / 2, 1.0  # every value equal: nothing to test (scipy would divide by zero)
    else:
        u, p = stats.mannwhitneyu(b, a, alternative="two-sided")
    return MetricComparison(
        metric=metric,
        statistic=statistic,
        baseline=float(center(a)),
        candidate=float(center(b)),
        diff=float(diff(b, a)),
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        p_value=float(p),
        effect_size=float(2 * u / (len(a) * len(b)) - 1),
        n_baseline=len(a),
        n_candidate=len(b),
        test="Mann-Whitney U",
        enough=min(len(a), len(b)) >= MIN_REQUESTS,
    )


def compare_shares(
    metric: str, baseline_events: int, baseline_n: int, candidate_events: int, candidate_n: int
) -> MetricComparison | None:
    """Two proportions (events out of requests; None when a side has no requests)."""
    if baseline_n < 1 or candidate_n < 1:
        return None
    pa, pb = baseline_events / baseline_n, candidate_events / candidate_n
    table = np.array(
        [[candidate_events, candidate_n - candidate_events], [baseline_events, baseline_n - baseline_events]]
    )
    events = baseline_events + candidate_events
    if events in (0, baseline_n + candidate_n):
        p, test = 1.0, "none (no variation)"
    elif _smallest_expected(table) < 5:
        p, test = float(stats.fisher_exact(table).pvalue), "Fisher's exact"
    else:
        p, test = float(stats.chi2_contingency(table, correction=False).pvalue), "two-proportion z"
    low, high = _newcombe(baseline_events, baseline_n, candidate_events, candidate_n)
    return MetricComparison(
        metric=metric,
        statistic="share",
        baseline=pa,
        candidate=pb,
        diff=pb - pa,
        ci_low=low,
        ci_high=high,
        p_value=p,
        effect_size=2 * math.asin(math.sqrt(pb)) - 2 * math.asin(math.sqrt(pa)),
        n_baseline=baseline_n,
        n_candidate=candidate_n,
        test=test,
        enough=min(baseline_n, candidate_n) >= MIN_REQUESTS and events >= MIN_EVENTS,
    )


def adjust(results: Sequence[MetricComparison]) -> list[MetricComparison]:
    """The same comparisons with ``p_adjusted`` set: Benjamini-Hochberg over all of them (false discovery rate)."""
    if not results:
        return []
    adjusted = stats.false_discovery_control([r.p_value for r in results], method="bh")
    return [replace(r, p_adjusted=float(p)) for r, p in zip(results, adjusted, strict=True)]


def _smallest_expected(table: np.ndarray) -> float:
    rows, columns, total = table.sum(axis=1), table.sum(axis=0), table.sum()
    return float(np.min(np.outer(rows, columns) / total))


def _newcombe(events_a: int, n_a: int, events_b: int, n_b: int) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_b - p_a (his method 10), from each side's Wilson interval."""
    pa, pb = events_a / n_a, events_b / n_b
    la, ua = _wilson(events_a, n_a)
    lb, ub = _wilson(events_b, n_b)
    d = pb - pa
    return d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)


def _wilson(events: int, n: int) -> tuple[float, float]:
    interval = stats.binomtest(events, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)
