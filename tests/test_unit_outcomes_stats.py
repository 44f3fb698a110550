"""Unit tests of pytest_agentchaos.model.outcomes and pytest_agentchaos.report.stats."""

from __future__ import annotations

import itertools
import statistics

import pydantic
import pytest

from pytest_agentchaos.model.kinds import Effect
from pytest_agentchaos.model.outcomes import (
    OUTCOMES,
    FaultResult,
    Outcome,
    classify,
    count_outcomes,
    mttd_s,
    mttr_s,
    recovery_rate,
)
from pytest_agentchaos.report.stats import (
    compare_rates,
    compare_times,
    percentile,
    summarize,
    wilson_interval,
)

# ------------------------------------------------------------------ outcomes
DETECTED = 10
# recovered: never, before detection (not a recovery of it), at detection, after detection
RECOVERED_CASES = (None, 5, 10, 20)


def expected_outcome(effect: Effect, detected: int | None, recovered: int | None) -> Outcome:
    if detected is None:
        return Outcome.SILENT if effect is Effect.CORRUPTION else Outcome.TOLERATED
    if recovered is not None and recovered >= detected:
        return Outcome.RECOVERED
    return Outcome.UNRECOVERED


CLASSIFY_TABLE = [
    (Effect.FAILURE, None, None, Outcome.TOLERATED),
    (Effect.FAILURE, None, 20, Outcome.TOLERATED),
    (Effect.FAILURE, 10, None, Outcome.UNRECOVERED),
    (Effect.FAILURE, 10, 5, Outcome.UNRECOVERED),
    (Effect.FAILURE, 10, 10, Outcome.RECOVERED),
    (Effect.FAILURE, 10, 20, Outcome.RECOVERED),
    (Effect.CORRUPTION, None, None, Outcome.SILENT),
    (Effect.CORRUPTION, None, 20, Outcome.SILENT),
    (Effect.CORRUPTION, 10, None, Outcome.UNRECOVERED),
    (Effect.CORRUPTION, 10, 5, Outcome.UNRECOVERED),
    (Effect.CORRUPTION, 10, 10, Outcome.RECOVERED),
    (Effect.CORRUPTION, 10, 20, Outcome.RECOVERED),
    (Effect.DISTURBANCE, None, None, Outcome.TOLERATED),
    (Effect.DISTURBANCE, None, 20, Outcome.TOLERATED),
    (Effect.DISTURBANCE, 10, None, Outcome.UNRECOVERED),
    (Effect.DISTURBANCE, 10, 5, Outcome.UNRECOVERED),
    (Effect.DISTURBANCE, 10, 10, Outcome.RECOVERED),
    (Effect.DISTURBANCE, 10, 20, Outcome.RECOVERED),
]


@pytest.mark.parametrize(("effect", "detected", "recovered", "expected"), CLASSIFY_TABLE)
def test_classify_table(
    effect: Effect, detected: int | None, recovered: int | None, expected: Outcome
) -> None:
    assert classify(effect, detected, recovered) is expected


def test_classify_table_covers_every_combination() -> None:
    combos = set(itertools.product(Effect, (None, DETECTED), RECOVERED_CASES))
    table = {(e, d, r) for e, d, r, _ in CLASSIFY_TABLE}
    # (None, 5) and (None, 10) mean the same as (None, 20): recovered without detection
    missing = {(e, d, r) for e, d, r in combos if (e, d, r) not in table}
    assert all(d is None for _, d, _ in missing)
    for effect, detected, recovered in combos:
        assert classify(effect, detected, recovered) is expected_outcome(
            effect, detected, recovered
        )


def test_outcome_names() -> None:
    assert OUTCOMES == ("recovered", "unrecovered", "silent", "tolerated")


def test_mttr_and_mttd_in_seconds() -> None:
    assert mttr_s(1_000_000_000, 3_500_000_000) == 2.5
    assert mttr_s(100, 2_100) == pytest.approx(2e-6)
    assert mttr_s(None, 5) is None
    assert mttr_s(5, None) is None
    assert mttd_s(0, 250_000_000) == 0.25
    assert mttd_s(7, None) is None


def test_recovery_rate() -> None:
    assert recovery_rate(0, 0, 0) is None
    assert recovery_rate(3, 1, 0) == 0.75
    assert recovery_rate(1, 1, 2) == 0.25
    assert recovery_rate(0, 2, 0) == 0.0
    assert recovery_rate(5, 0, 0) == 1.0


def _result(
    outcome: Outcome, injected: int, detected: int | None, recovered: int | None
) -> FaultResult:
    return FaultResult(
        fault_id=f"f{injected}",
        run_id="r",
        kind="crash",
        target="a",
        params={},
        call_number=1,
        injected_ns=injected,
        detected_ns=detected,
        recovered_ns=recovered,
        outcome=outcome,
        strategy=None,
        detected_by=None,
        propagation=0,
    )


def test_fault_result_properties_and_counts() -> None:
    results = [
        _result(Outcome.RECOVERED, 0, 1_000_000, 3_000_000),
        _result(Outcome.RECOVERED, 1, 2_000_001, 2_000_001),
        _result(Outcome.SILENT, 2, None, None),
    ]
    assert results[0].mttr_s == 0.002
    assert results[0].mttd_s == 0.001
    assert results[1].mttr_s == 0.0
    assert results[2].mttr_s is None
    assert results[2].mttd_s is None
    assert count_outcomes(results) == {
        "recovered": 2,
        "unrecovered": 0,
        "silent": 1,
        "tolerated": 0,
    }
    assert count_outcomes([]) == dict.fromkeys(OUTCOMES, 0)
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        results[0].outcome = Outcome.SILENT


# ------------------------------------------------------------------ wilson
@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (50, 50, 0.92865, 1.0),
        (0, 10, 0.0, 0.27753),
        (5, 10, 0.23659, 0.76341),
        (10, 10, 0.72247, 1.0),
        (45, 48, 0.83165, 0.97852),  # DESIGN's example row: [83.2, 97.9]
        (1, 2, 0.09453, 0.90547),
    ],
)
def test_wilson_interval_known_values(successes: int, trials: int, low: float, high: float) -> None:
    got_low, got_high = wilson_interval(successes, trials)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(50, 50)[1] == 1.0
    with pytest.raises(ValueError, match="successes=11"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="successes=-1"):
        wilson_interval(-1, 10)
    low99, high99 = wilson_interval(5, 10, z=2.5758293035489)
    low95, high95 = wilson_interval(5, 10)
    assert low99 < low95
    assert high99 > high95


def test_wilson_interval_is_symmetric() -> None:
    for n in (7, 20, 101):
        for k in range(n + 1):
            low, high = wilson_interval(k, n)
            mirror_low, mirror_high = wilson_interval(n - k, n)
            assert low == pytest.approx(1 - mirror_high, abs=1e-12)
            assert high == pytest.approx(1 - mirror_low, abs=1e-12)
            assert 0.0 <= low <= k / n + 1e-12
            assert k / n - 1e-12 <= high <= 1.0


# ------------------------------------------------------------------ percentile
SAMPLES = [
    [3.0],
    [1.0, 2.0],
    [5.0, 1.0, 4.0, 2.0, 3.0],
    [0.0021, 0.0034, 0.0019, 0.0102, 0.0025, 0.0030, 0.0011],
    [float(x) for x in (10, 7, 7, 3, 99, 42, 0, 5, 5, 6)],
]


@pytest.mark.parametrize("values", SAMPLES[1:])
def test_percentile_matches_statistics_inclusive_quantiles(values: list[float]) -> None:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    for q in range(1, 100):
        assert percentile(values, q) == pytest.approx(cuts[q - 1], abs=1e-12), q


@pytest.mark.parametrize("values", SAMPLES)
def test_percentile_ends_are_min_and_max(values: list[float]) -> None:
    assert percentile(values, 0) == min(values)
    assert percentile(values, 100) == max(values)
    assert percentile(values, 50) == statistics.median(values)


def test_percentile_hand_values() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == pytest.approx(3.85)
    assert percentile([10.0, 20.0], 25) == 12.5
    assert percentile([], 50) is None


def test_summarize() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0])
    assert summary.count == 4
    assert summary.mean == 2.5
    assert summary.p50 == 2.5
    assert summary.p95 == pytest.approx(3.85)
    assert summary.as_dict() == {"mean": 2.5, "p50": 2.5, "p95": pytest.approx(3.85)}
    empty = summarize([])
    assert (empty.count, empty.mean, empty.p50, empty.p95) == (0, None, None, None)


# ------------------------------------------------------------------ significance tests
def test_compare_rates_clearly_different() -> None:
    result = compare_rates(50, 50, 10, 50)
    assert result.test == "fisher"
    assert result.p_value < 0.01


def test_compare_rates_equal() -> None:
    result = compare_rates(30, 50, 30, 50)
    assert result.test == "fisher"
    assert result.p_value > 0.5


def test_compare_rates_large_samples_use_chi_square() -> None:
    different = compare_rates(900, 1000, 800, 1000)
    assert different.test == "chi_square"
    assert different.p_value < 0.01
    same = compare_rates(850, 1000, 850, 1000)
    assert same.test == "chi_square"
    assert same.p_value > 0.5


def test_compare_times() -> None:
    fast = [0.001 * i for i in range(1, 31)]
    slow = [1.0 + 0.001 * i for i in range(1, 31)]
    different = compare_times(fast, slow)
    assert different is not None
    assert different.test == "mann_whitney_u"
    assert different.p_value < 0.01
    assert different.statistic == 0.0
    same = compare_times(fast, list(reversed(fast)))
    assert same is not None
    assert same.p_value > 0.5
    assert compare_times([], fast) is None
    assert compare_times(fast, []) is None
