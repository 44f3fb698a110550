"""The quickstart example suite passes as users run it: steady state, and under ``--chaos``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import query

QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart"
OUTCOMES = ("recovered", "unrecovered", "silent", "tolerated")


def run_quickstart(*args: str) -> subprocess.CompletedProcess[str]:
    # Run it as a user would, from its own folder with its own pytest.ini, untouched by the
    # outer run's PYTEST_* variables (xdist worker name, PYTEST_ADDOPTS).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=QUICKSTART,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_quickstart_passes_in_the_steady_state(tmp_path: Path) -> None:
    result = run_quickstart(f"--chaos-db={tmp_path / 'events.db'}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "agentchaos resilience report" not in result.stdout


@pytest.fixture(scope="module")
def chaos_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("quickstart")
    db, report = tmp / "events.db", tmp / "r.json"
    result = run_quickstart(
        "--chaos", "--chaos-seed=1234", f"--chaos-db={db}", f"--chaos-report={report}"
    )
    return {"result": result, "db": db, "report": report}


def test_quickstart_passes_under_chaos(chaos_session: dict[str, Any]) -> None:
    result = chaos_session["result"]

    assert result.returncode == 0, result.stdout + result.stderr
    assert "agentchaos resilience report" in result.stdout
    assert "seed 1234" in result.stdout


def test_quickstart_shows_every_outcome(chaos_session: dict[str, Any]) -> None:
    report = json.loads(chaos_session["report"].read_text(encoding="utf-8"))

    assert report["seed"] == 1234
    for outcome in OUTCOMES:
        assert report["totals"][outcome] >= 1, f"no fault ended {outcome}"
        assert any(row[outcome] >= 1 for row in report["rows"]), outcome
    seen = {f["outcome"] for test in report["tests"] for f in test["faults"]}
    assert seen == set(OUTCOMES)
    assert all(test["outcome"] == "passed" for test in report["tests"])


def test_inventory_side_effect_runs_once_across_crash_and_recovery(
    chaos_session: dict[str, Any],
) -> None:
    db = chaos_session["db"]
    per_run = query(
        db,
        "SELECT runs.nodeid,"
        " SUM(events.kind = 'call_start'), SUM(events.kind = 'effect_replayed')"
        " FROM runs LEFT JOIN events ON events.run_id = runs.run_id AND events.agent = ?"
        " GROUP BY runs.run_id",
        "inventory",
    )
    assert per_run, "no run was stored"
    for nodeid, started, _ in per_run:
        assert (started or 0) <= 1, f"{nodeid}: inventory ran {started} times"

    nodeid = "test_launch.py::test_inventory_crash_after_reserving_does_not_reserve_twice"
    assert [(started, replayed) for node, started, replayed in per_run if node == nodeid] == [
        (1, 1)  # ran once, crashed after reserving; the retry got the recorded result
    ]
    faults = query(
        db,
        "SELECT faults.kind, faults.outcome, faults.strategy FROM faults"
        " JOIN runs USING (run_id) WHERE runs.nodeid = ? AND faults.target = 'inventory'",
        nodeid,
    )
    assert faults == [("crash", "recovered", "retry")]
