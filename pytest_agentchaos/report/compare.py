"""Did resilience regress? Compare two event stores (or sessions) with significance tests.

A group (fault kind x target, and the totals) regresses only when all three hold:

- the head is *worse*: a lower recovery rate, or a higher MTTR p50;
- the difference is unlikely to be chance: p < ``alpha`` in a two-sided test (Fisher's exact test
  on the 2x2 table of recovered / not recovered, chi-square with Yates' correction when every cell
  is large; Mann-Whitney U on the MTTR samples). The direction comes from the check above, not
  from a one-sided test;
- the change is large enough to matter (:class:`MinimumEffect`): with hundreds of runs a test
  finds a 2% MTTR shift "significant", and a gate that fails on it is noise in CI.

MTTR is compared over recovered firings only (a firing that never recovered has no MTTR; it
counts against the recovery rate instead).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.model.outcomes import (
    FaultResult,
    recovery_counts,
    recovery_rate,
    recovery_times,
)
from pytest_agentchaos.report.stats import TestResult, compare_rates, compare_times, summarize

# Rates are fractions: 0.9 - 0.8 is 0.0999...; a drop of exactly the minimum must count.
_ROUNDING = 1e-9


@dataclass(frozen=True)
class MinimumEffect:
    """The smallest change that counts as a regression, whatever the p-value.

    ``rate_drop``: recovery-rate fall as a fraction (0.05 = 5 percentage points).
    ``mttr_rise_ratio`` and ``mttr_rise_s``: the MTTR p50 must rise by at least this fraction of
    the base p50 *and* by at least this many seconds (20% of 10 µs is noise, and so is 1 ms of
    a 2 s recovery).
    """

    rate_drop: float = 0.05
    mttr_rise_ratio: float = 0.20
    mttr_rise_s: float = 0.001

    def describe_mttr(self) -> str:
        return f"{self.mttr_rise_ratio:.0%} and {self.mttr_rise_s * 1e3:g} ms"


class Comparison(BaseModel):
    """One fault kind x target (or the totals, ``kind == "*"``) in base and head.

    ``reason`` says why the group regressed; ``note`` names a change that was significant but
    smaller than the minimum effect, so a user sees what the gate ignored and why.
    """

    model_config = ConfigDict(frozen=True)

    kind: str
    target: str
    base_rate: float | None
    head_rate: float | None
    rate_test: str | None
    rate_p: float | None
    base_mttr_p50_s: float | None
    head_mttr_p50_s: float | None
    mttr_p: float | None
    regressed: bool
    reason: str
    note: str = ""


@dataclass(frozen=True)
class _Verdict:
    regression: str = ""
    below_minimum: str = ""


def _rate_verdict(
    base_rate: float | None,
    head_rate: float | None,
    test: TestResult | None,
    alpha: float,
    minimum: MinimumEffect,
) -> _Verdict:
    if base_rate is None or head_rate is None or test is None or head_rate >= base_rate:
        return _Verdict()
    if test.p_value >= alpha:
        return _Verdict()
    change = f"recovery rate fell {base_rate:.1%} -> {head_rate:.1%}"
    if base_rate - head_rate + _ROUNDING >= minimum.rate_drop:
        return _Verdict(regression=change)
    return _Verdict(
        below_minimum=f"{change} (p={test.p_value:.2g}), "
        f"less than the minimum drop of {minimum.rate_drop * 100:g} points"
    )


def _mttr_verdict(
    base_p50: float | None,
    head_p50: float | None,
    test: TestResult | None,
    alpha: float,
    minimum: MinimumEffect,
) -> _Verdict:
    if base_p50 is None or head_p50 is None or test is None or head_p50 <= base_p50:
        return _Verdict()
    if test.p_value >= alpha:
        return _Verdict()
    rise = head_p50 - base_p50
    relative = rise / base_p50 if base_p50 > 0 else float("inf")
    change = f"MTTR p50 rose {base_p50 * 1e3:.2f} -> {head_p50 * 1e3:.2f} ms"
    big_enough = (
        relative + _ROUNDING >= minimum.mttr_rise_ratio
        and rise + _ROUNDING * 1e-3 >= minimum.mttr_rise_s
    )
    if big_enough:
        return _Verdict(regression=change)
    return _Verdict(
        below_minimum=f"{change} (+{relative:.1%}, p={test.p_value:.2g}), "
        f"less than the minimum rise of {minimum.describe_mttr()}"
    )


def compare_group(
    kind: str,
    target: str,
    base: Sequence[FaultResult],
    head: Sequence[FaultResult],
    alpha: float,
    minimum: MinimumEffect | None = None,
) -> Comparison:
    minimum = minimum or MinimumEffect()
    base_ok, base_n = recovery_counts(base)
    head_ok, head_n = recovery_counts(head)
    base_rate = recovery_rate(base_ok, base_n - base_ok, 0)
    head_rate = recovery_rate(head_ok, head_n - head_ok, 0)
    rate = compare_rates(base_ok, base_n, head_ok, head_n) if base_n and head_n else None
    base_t, head_t = recovery_times(base), recovery_times(head)
    times = compare_times(base_t, head_t)
    base_p50, head_p50 = summarize(base_t).p50, summarize(head_t).p50
    verdicts = (
        _rate_verdict(base_rate, head_rate, rate, alpha, minimum),
        _mttr_verdict(base_p50, head_p50, times, alpha, minimum),
    )
    reasons = [v.regression for v in verdicts if v.regression]
    return Comparison(
        kind=kind,
        target=target,
        base_rate=base_rate,
        head_rate=head_rate,
        rate_test=rate.test if rate else None,
        rate_p=rate.p_value if rate else None,
        base_mttr_p50_s=base_p50,
        head_mttr_p50_s=head_p50,
        mttr_p=times.p_value if times else None,
        regressed=bool(reasons),
        reason="; ".join(reasons),
        note="; ".join(v.below_minimum for v in verdicts if v.below_minimum),
    )


def _groups(
    faults: Sequence[FaultResult],
) -> dict[tuple[str, str], list[FaultResult]]:
    grouped: dict[tuple[str, str], list[FaultResult]] = defaultdict(list)
    for fault in faults:
        grouped[(fault.kind, fault.target)].append(fault)
    return grouped


def compare_faults(
    base: Sequence[FaultResult],
    head: Sequence[FaultResult],
    alpha: float = 0.05,
    minimum: MinimumEffect | None = None,
) -> list[Comparison]:
    """Per kind x target, then the totals (``*``, ``*``) last."""
    base_groups, head_groups = _groups(base), _groups(head)
    keys = sorted(base_groups.keys() | head_groups.keys())
    rows = [
        compare_group(
            k, t, base_groups.get((k, t), []), head_groups.get((k, t), []), alpha, minimum
        )
        for k, t in keys
    ]
    rows.append(compare_group("*", "*", base, head, alpha, minimum))
    return rows


def mismatch_warning(base: Sequence[FaultResult], head: Sequence[FaultResult]) -> str | None:
    """A warning when base and head cannot be compared group by group, else ``None``.

    Two stores with no fault kind x target in common are almost always a wrong path or session
    (stores of unrelated suites); only their totals would be compared.
    """
    if not base or not head:
        empty = [name for name, faults in (("BASE", base), ("HEAD", head)) if not faults]
        return f"{' and '.join(empty)} recorded no fault firing: nothing to compare"
    base_groups, head_groups = _groups(base).keys(), _groups(head).keys()
    if base_groups & head_groups:
        return None

    def names(groups: Sequence[tuple[str, str]]) -> str:
        shown = [f"{kind} at {target}" for kind, target in sorted(groups)[:3]]
        return ", ".join(shown) + (", ..." if len(groups) > 3 else "")

    return (
        "no fault kind x target occurs in both BASE and HEAD (BASE: "
        f"{names(list(base_groups))}; HEAD: {names(list(head_groups))}): are they stores of the "
        "same suite? Only the totals are compared"
    )
