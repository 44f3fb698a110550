"""`agentchaos compare`: a regression only when the head is worse and unlikely by chance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.report.compare import compare_faults
from pytest_agentchaos.store.sqlite import EventStore, RunRow

AGENTCHAOS = str(Path(sys.executable).with_name("agentchaos"))


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


def test_cli_exit_code_says_whether_resilience_regressed(tmp_path: Path) -> None:
    _store(tmp_path / "base.db", 40, 0)
    _store(tmp_path / "head.db", 10, 30)
    worse = subprocess.run(
        [AGENTCHAOS, "compare", str(tmp_path / "base.db"), str(tmp_path / "head.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert worse.returncode == 1, worse.stderr
    assert "regression: crash at pricing: recovery rate fell 100.0% -> 25.0%" in worse.stdout
    same = subprocess.run(
        [AGENTCHAOS, "compare", str(tmp_path / "base.db"), str(tmp_path / "base.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "REGRESSED" not in same.stdout
    missing = subprocess.run(
        [AGENTCHAOS, "compare", str(tmp_path / "nope.db"), str(tmp_path / "base.db")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2
    assert "no event store at" in missing.stderr
    assert not (tmp_path / "nope.db").exists()
