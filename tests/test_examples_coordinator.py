"""The coordinator example suite passes as users run it, and its report says what it shows.

``examples/coordinator`` puts four message-based agents behind a coordinator with its own
recovery (retry, fallback, rollback); each of its tests ends a fault in a known outcome.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "coordinator"
OUTCOMES = ("recovered", "unrecovered", "silent", "tolerated")

#: Every row of the report under --chaos: (kind, target) -> its non-zero outcome counts.
ROWS: dict[tuple[str, str], dict[str, int]] = {
    ("message_drop", "coordinator->knowledge"): {"recovered": 1},  # the coordinator's retry
    ("message_drop", "coordinator->execution"): {"recovered": 1},  # at-least-once redelivery
    ("message_corrupt", "coordinator->script_builder"): {"recovered": 1},  # contract check
    ("message_corrupt", "coordinator->knowledge"): {"silent": 1},  # header outside the hash
    ("message_delay", "coordinator->knowledge"): {"recovered": 1},  # later than the timeout
    ("message_delay", "knowledge->coordinator"): {"tolerated": 1},  # within the timeout
    ("message_duplicate", "coordinator->execution"): {"tolerated": 1},
    ("wrong_handoff", "coordinator->script_builder"): {"recovered": 1},
    ("hang", "script_builder"): {"recovered": 1},
    ("crash", "execution"): {"recovered": 1},  # when="after": retried, replayed, not re-run
    ("hallucination", "knowledge"): {"recovered": 1},  # verification, rollback, re-run
    ("partition", "knowledge"): {"recovered": 1},  # fallback, then healed
    ("partition", "execution"): {"unrecovered": 1},  # the coordinator raises
    ("crash", "verification"): {"unrecovered": 3},  # rolled back, the coordinator raises
}


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    # As a user runs it: from its own folder, with its own pytest.ini, untouched by the outer
    # run's PYTEST_* variables (xdist worker name, PYTEST_ADDOPTS).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_example_passes_in_the_steady_state(tmp_path: Path) -> None:
    db, report = tmp_path / "events.db", tmp_path / "report.json"
    result = run_example(f"--chaos-db={db}", f"--chaos-report={report}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout
    assert "agentchaos resilience report" not in result.stdout
    assert not db.exists()
    assert not report.exists()


@pytest.fixture(scope="module")
def chaos_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("coordinator")
    db, report = tmp / "events.db", tmp / "report.json"
    result = run_example(
        "--chaos", "--chaos-seed=1234", f"--chaos-db={db}", f"--chaos-report={report}"
    )
    return {"result": result, "db": db, "report": report}


@pytest.fixture(scope="module")
def report(chaos_session: dict[str, Any]) -> Any:
    result = chaos_session["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(chaos_session["report"].read_text(encoding="utf-8"))


def test_example_passes_under_chaos(chaos_session: dict[str, Any]) -> None:
    result = chaos_session["result"]

    assert result.returncode == 0, result.stdout + result.stderr
    assert "15 passed" in result.stdout
    assert "agentchaos resilience report (seed 1234)" in result.stdout
    assert chaos_session["db"].exists()


def test_report_rows_say_which_faults_the_design_survives(report: Any) -> None:
    found = {
        (row["kind"], row["target"]): {o: row[o] for o in OUTCOMES if row[o]}
        for row in report["rows"]
    }

    assert found == ROWS
    assert {row["strategy"] for row in report["rows"]} == {"none"}  # the system's own recovery
    for row in report["rows"]:
        assert row["injected"] == sum(row[o] for o in OUTCOMES), row


def test_report_totals_and_tests(report: Any) -> None:
    totals = report["totals"]

    assert report["seed"] == 1234
    assert {o: totals[o] for o in OUTCOMES} == {
        "recovered": 9,
        "unrecovered": 4,
        "silent": 1,
        "tolerated": 2,
    }
    assert totals["recovery_rate"] == pytest.approx(9 / 14)
    assert len(report["tests"]) == 15
    assert all(test["outcome"] == "passed" for test in report["tests"])
    by_test = {
        test["nodeid"].split("::")[-1]: [(f["kind"], f["outcome"]) for f in test["faults"]]
        for test in report["tests"]
    }
    assert by_test["test_deploys_and_verifies"] == []
    assert by_test["test_dropped_lookup_is_retried"] == [("message_drop", "recovered")]
    assert by_test["test_knowledge_outage_falls_back_to_cached_facts"] == [
        ("partition", "recovered")
    ]
    assert by_test["test_forged_sender_goes_unnoticed"] == [("message_corrupt", "silent")]
    assert (
        by_test["test_verification_outage_rolls_back_and_fails"] == [("crash", "unrecovered")] * 3
    )
