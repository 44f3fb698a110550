"""`agentchaos compare`: a regression only when the head is worse, unlikely by chance, and at
least the minimum effect (--min-rate-drop, --min-mttr-rise)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
import scipy.stats
from helpers import MS, firing, write_store

from pytest_agentchaos.cli import main
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.report.compare import MinimumEffect, compare_faults, mismatch_warning
from pytest_agentchaos.store.sqlite import EventStore, RunRow


def faults(recovered: int, unrecovered: int, mttr_ms: float = 1.0) -> list[FaultResult]:
    made = []
    for n in range(recovered + unrecovered):
        good = n < recovered
        made.append(
            FaultResult(
                fault_id=f"f{n}",
                run_id="r",
                kind="crash",
                target="pricing",
                params={},
                call_number=1,
                injected_ns=0,
                detected_ns=1_000,
                recovered_ns=1_000 + int(mttr_ms * 1e6) + n % 10 if good else None,
                outcome=Outcome.RECOVERED if good else Outcome.UNRECOVERED,
                strategy=None,
                detected_by="AgentCrashed",
                propagation=0,
            )
        )
    return made


def test_a_clear_fall_in_recovery_rate_is_a_regression() -> None:
    row, totals = compare_faults(faults(40, 0), faults(10, 30))
    assert (row.kind, row.target, totals.kind) == ("crash", "pricing", "*")
    assert (row.base_rate, row.head_rate) == (1.0, 0.25)
    assert row.rate_test == "fisher"
    assert row.rate_p is not None
    assert row.rate_p < 1e-6
    assert row.regressed
    assert "recovery rate fell 100.0% -> 25.0%" in row.reason


def test_the_same_results_are_no_regression() -> None:
    row, _ = compare_faults(faults(30, 10), faults(30, 10))
    assert row.rate_p == 1.0
    assert not row.regressed
    assert row.reason == ""


def test_an_improvement_is_no_regression_however_significant() -> None:
    row, _ = compare_faults(faults(10, 30), faults(40, 0))
    assert row.rate_p is not None
    assert row.rate_p < 1e-6
    assert not row.regressed


def test_slower_recovery_is_a_regression_when_significant() -> None:
    row, _ = compare_faults(faults(30, 0, mttr_ms=1.0), faults(30, 0, mttr_ms=5.0))
    assert row.mttr_p is not None
    assert row.mttr_p < 0.001
    assert row.regressed
    assert "MTTR p50 rose" in row.reason


def _store(path: Path, recovered: int, unrecovered: int) -> None:
    with EventStore.open(path) as store:
        store.start_session("s", 1, [], "test", 0)
        store.write_run(
            RunRow("r", "s", "t.py::t", 1, 0, "chaos", "passed", 0, 1, 0.0, "main", "none"),
            [],
            faults(recovered, unrecovered),
        )


def test_cli_exit_code_says_whether_resilience_regressed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _store(tmp_path / "base.db", 40, 0)
    _store(tmp_path / "head.db", 10, 30)
    assert main(["compare", str(tmp_path / "base.db"), str(tmp_path / "head.db")]) == 1
    worse = capsys.readouterr()
    assert "regression: crash at pricing: recovery rate fell 100.0% -> 25.0%" in worse.out
    assert main(["compare", str(tmp_path / "base.db"), str(tmp_path / "base.db")]) == 0
    same = capsys.readouterr()
    assert "REGRESSED" not in same.out, same.out + same.err
    assert main(["compare", str(tmp_path / "nope.db"), str(tmp_path / "base.db")]) == 2
    assert "no event store at" in capsys.readouterr().err
    assert not (tmp_path / "nope.db").exists()


# ----------------------------------------------------------------- minimum effect (issue 7)
def timed_recovery() -> int:
    """A recovery by a call that waits a fixed 10 ms, timed on the real clock (jitter and all)."""
    start = time.monotonic_ns()
    time.sleep(0.010)
    return time.monotonic_ns() - start


def test_the_same_code_compared_both_ways_never_regresses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 300 runs per session of the same code: a 10 ms recovery, 1 run in 10 never recovering.
    # The sessions are interleaved so that the machine's load falls on both alike.
    base_rng, head_rng = random.Random(1), random.Random(2)
    base: list[FaultResult] = []
    head: list[FaultResult] = []
    for n in range(300):
        for rng, firings in ((base_rng, base), (head_rng, head)):
            mttr = timed_recovery() if rng.random() >= 0.1 else None
            firings.append(firing(n, mttr))
    write_store(tmp_path / "a.db", base)
    write_store(tmp_path / "b.db", head)

    for first, second in (("a.db", "b.db"), ("b.db", "a.db")):
        code = main(["compare", str(tmp_path / first), str(tmp_path / second)])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "REGRESSED" not in out
        assert "regression:" not in out


def test_a_two_percent_mttr_rise_is_no_regression_however_significant() -> None:
    jitter = random.Random(3)
    base = [firing(n, 10 * MS + jitter.randrange(50_000)) for n in range(300)]
    head = [firing(n, int(10.2 * MS) + jitter.randrange(50_000)) for n in range(300)]

    row, _ = compare_faults(base, head)

    assert row.mttr_p is not None
    assert row.mttr_p < 1e-40
    assert not row.regressed
    assert "MTTR p50 rose 10.03 -> 10.23 ms (+2.0%" in row.note
    assert "less than the minimum rise of 20% and 1 ms" in row.note
    # with a smaller minimum effect the same shift is a regression: the gate can fire
    smaller = MinimumEffect(mttr_rise_ratio=0.01, mttr_rise_s=0.0001)
    assert compare_faults(base, head, minimum=smaller)[0].regressed


@pytest.mark.parametrize(
    ("base_ms", "head_ms", "regressed"),
    [
        (0.1, 0.4, False),  # +300% but only 0.3 ms: below the absolute floor
        (2000.0, 2002.0, False),  # +2 ms but only 0.1%: below the relative floor
        (10.0, 12.5, True),  # +25% and +2.5 ms: both floors met
    ],
)
def test_an_mttr_rise_must_meet_both_the_relative_and_the_absolute_minimum(
    base_ms: float, head_ms: float, regressed: bool
) -> None:
    base = [firing(n, int(base_ms * MS) + n) for n in range(100)]
    head = [firing(n, int(head_ms * MS) + n) for n in range(100)]
    row, _ = compare_faults(base, head)
    assert row.mttr_p is not None
    assert row.mttr_p < 1e-30
    assert row.regressed is regressed


def outcomes(recovered: int, total: int) -> list[FaultResult]:
    return [firing(n, MS if n < recovered else None) for n in range(total)]


def test_a_ten_point_recovery_rate_drop_is_a_regression() -> None:
    row, _ = compare_faults(outcomes(285, 300), outcomes(255, 300))  # 95% -> 85%
    assert row.rate_test == "fisher"
    assert row.rate_p is not None
    assert row.rate_p < 1e-3
    assert row.regressed
    assert row.reason == "recovery rate fell 95.0% -> 85.0%"


def test_a_rate_drop_below_the_minimum_is_no_regression_however_significant() -> None:
    base, head = outcomes(4750, 5000), outcomes(4550, 5000)  # 95% -> 91%, 4 points
    row, _ = compare_faults(base, head)
    assert row.rate_test == "chi_square"
    assert row.rate_p is not None
    assert row.rate_p < 1e-10
    assert not row.regressed
    assert "less than the minimum drop of 5 points" in row.note
    assert compare_faults(base, head, minimum=MinimumEffect(rate_drop=0.04))[0].regressed


def test_chi_square_uses_yates_correction_and_both_tests_are_two_sided() -> None:
    base, head = outcomes(4750, 5000), outcomes(4700, 5000)
    table = [[4750, 250], [4700, 300]]
    row, _ = compare_faults(base, head)
    corrected = scipy.stats.chi2_contingency(table, correction=True)[1]
    plain = scipy.stats.chi2_contingency(table, correction=False)[1]
    assert row.rate_p == pytest.approx(corrected, rel=1e-12)
    assert row.rate_p != pytest.approx(plain, rel=1e-3)
    # two-sided: swapping base and head gives the same p-value, and only one direction regresses
    swapped, _ = compare_faults(head, base)
    assert swapped.rate_p == pytest.approx(row.rate_p, rel=1e-12)
    worse, _ = compare_faults(outcomes(40, 40), outcomes(10, 40))
    better, _ = compare_faults(outcomes(10, 40), outcomes(40, 40))
    assert worse.rate_p == pytest.approx(better.rate_p)
    assert worse.regressed
    assert not better.regressed


def test_mttr_is_compared_over_recovered_firings_only() -> None:
    # Head loses a third of its recoveries; those firings have no MTTR and must not drag the
    # MTTR comparison: the recovered ones take exactly as long as in base.
    base = [firing(n, 5 * MS + n) for n in range(90)]
    head = [firing(n, 5 * MS + n if n % 3 else None) for n in range(90)]
    row, _ = compare_faults(base, head)
    assert row.base_mttr_p50_s == pytest.approx(row.head_mttr_p50_s, rel=1e-3)
    assert row.mttr_p is not None
    assert row.mttr_p > 0.5
    assert row.regressed
    assert row.reason.startswith("recovery rate fell")
    assert "MTTR" not in row.reason


def test_cli_minimum_effect_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jitter = random.Random(4)
    write_store(
        tmp_path / "base.db", [firing(n, 10 * MS + jitter.randrange(50_000)) for n in range(200)]
    )
    write_store(
        tmp_path / "head.db",
        [firing(n, int(11.5 * MS) + jitter.randrange(50_000)) for n in range(200)],
    )
    args = ["compare", str(tmp_path / "base.db"), str(tmp_path / "head.db")]

    assert main(args) == 0  # +10%: below the default 20%
    out = capsys.readouterr().out
    assert "below the minimum effect: crash at pricing: MTTR p50 rose" in out
    assert main([*args, "--min-mttr-rise=5%"]) == 1  # keeps the 1 ms floor: +1.0 ms meets it
    assert "regression: crash at pricing: MTTR p50 rose" in capsys.readouterr().out
    assert main([*args, "--min-mttr-rise=5%,2ms"]) == 0
    assert main([*args, "--min-mttr-rise", "5%, 500us"]) == 1


def test_unrelated_stores_are_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_store(tmp_path / "a.db", [firing(n, MS, "crash", "pricing") for n in range(5)])
    write_store(tmp_path / "b.db", [firing(n, MS, "hang", "billing") for n in range(5)])
    assert main(["compare", str(tmp_path / "a.db"), str(tmp_path / "b.db")]) == 0
    err = capsys.readouterr().err
    assert "agentchaos: warning: no fault kind x target occurs in both BASE and HEAD" in err
    assert "BASE: crash at pricing; HEAD: hang at billing" in err
    assert mismatch_warning([firing(1, MS)], [firing(2, None)]) is None
    assert (
        mismatch_warning([firing(1, MS)], []) == "HEAD recorded no fault firing: nothing to compare"
    )
