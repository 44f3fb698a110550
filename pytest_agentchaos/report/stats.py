"""Statistics: intervals and percentiles in pure Python; significance tests with scipy.

scipy is imported inside the test functions only, so the plugin stays cheap to import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pytest_agentchaos.errors import MissingExtraError


def wilson_interval(
    successes: int, trials: int, z: float = 1.959963984540054
) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default).

    centre = (p + z²/2n) / (1 + z²/n); half width = z·sqrt(p(1-p)/n + z²/4n²) / (1 + z²/n).
    Unlike the normal approximation it stays inside [0, 1] and is sensible at p = 0 or 1.
    """
    if trials <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= trials:
        raise ValueError(f"successes={successes} must be between 0 and trials={trials}")
    p = successes / trials
    z2 = z * z
    denominator = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, no 5e-17
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0..100) with linear interpolation between order statistics."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Summary:
    """Mean, median and 95th percentile of a sample of durations (seconds)."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"mean": self.mean, "p50": self.p50, "p95": self.p95}


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        return Summary(0, None, None, None)
    return Summary(
        len(values), sum(values) / len(values), percentile(values, 50), percentile(values, 95)
    )


@dataclass(frozen=True)
class TestResult:
    """A significance test between two conditions."""

    test: str
    statistic: float
    p_value: float


def compare_rates(successes_a: int, trials_a: int, successes_b: int, trials_b: int) -> TestResult:
    """Two-sided test of two proportions on their 2x2 table.

    Fisher's exact test, or chi-square with Yates' continuity correction when every cell holds at
    least 5 and there are more than 1000 trials (Fisher's test is slow there, and the two agree).
    """
    stats = _scipy_stats("comparing recovery rates")
    table = [[successes_a, trials_a - successes_a], [successes_b, trials_b - successes_b]]
    if min(min(row) for row in table) >= 5 and trials_a + trials_b > 1000:
        chi2, p_value, _, _ = stats.chi2_contingency(table, correction=True)
        return TestResult("chi_square", float(chi2), float(p_value))
    odds, p_value = stats.fisher_exact(table, alternative="two-sided")
    return TestResult("fisher", float(odds), float(p_value))


def compare_times(a: Sequence[float], b: Sequence[float]) -> TestResult | None:
    """Mann-Whitney U test (two-sided) between two samples of durations."""
    if not a or not b:
        return None
    stats = _scipy_stats("comparing recovery times")
    result = stats.mannwhitneyu(list(a), list(b), alternative="two-sided")
    return TestResult("mann_whitney_u", float(result.statistic), float(result.pvalue))


def _scipy_stats(feature: str) -> Any:
    """scipy.stats, imported on first use (heavy), or a clear error naming the extra."""
    try:
        from scipy import stats
    except ImportError:
        raise MissingExtraError(feature, "scipy", "stats") from None
    return stats
