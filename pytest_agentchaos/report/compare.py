"""Did resilience regress? Compare two event stores (or sessions) with significance tests.

Recovery rates are compared with Fisher's exact test (chi-square for large tables) and MTTR
samples with the Mann-Whitney U test; a difference counts as a regression only when the head is
worse *and* the test says it is unlikely to be chance (p < alpha).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.model.outcomes import (
    FaultResult,
    recovery_counts,
    recovery_rate,
    recovery_times,
)
from pytest_agentchaos.report.stats import compare_rates, compare_times, summarize


class Comparison(BaseModel):
    """One fault kind x target (or the totals, ``kind == "*"``) in base and head."""

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


def compare_group(
    kind: str, target: str, base: Sequence[FaultResult], head: Sequence[FaultResult], alpha: float
) -> Comparison:
    base_ok, base_n = recovery_counts(base)
    head_ok, head_n = recovery_counts(head)
    base_rate = recovery_rate(base_ok, base_n - base_ok, 0)
    head_rate = recovery_rate(head_ok, head_n - head_ok, 0)
    rate = compare_rates(base_ok, base_n, head_ok, head_n) if base_n and head_n else None
    base_t, head_t = recovery_times(base), recovery_times(head)
    times = compare_times(base_t, head_t)
    base_p50, head_p50 = summarize(base_t).p50, summarize(head_t).p50
    reasons = []
    rate_fell = base_rate is not None and head_rate is not None and head_rate < base_rate
    if rate and rate.p_value < alpha and rate_fell:
        reasons.append(f"recovery rate fell {base_rate:.1%} -> {head_rate:.1%}")
    if (
        times
        and times.p_value < alpha
        and base_p50 is not None
        and head_p50 is not None
        and head_p50 > base_p50
    ):
        reasons.append(f"MTTR p50 rose {base_p50 * 1e3:.2f} -> {head_p50 * 1e3:.2f} ms")
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
    )


def compare_faults(
    base: Sequence[FaultResult], head: Sequence[FaultResult], alpha: float = 0.05
) -> list[Comparison]:
    """Per kind x target, then the totals (``*``, ``*``) last."""
    groups: dict[tuple[str, str], tuple[list[FaultResult], list[FaultResult]]] = defaultdict(
        lambda: ([], [])
    )
    for fault in base:
        groups[(fault.kind, fault.target)][0].append(fault)
    for fault in head:
        groups[(fault.kind, fault.target)][1].append(fault)
    rows = [compare_group(k, t, b, h, alpha) for (k, t), (b, h) in sorted(groups.items())]
    rows.append(compare_group("*", "*", base, head, alpha))
    return rows
