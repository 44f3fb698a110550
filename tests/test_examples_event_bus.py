"""The event-bus example suite passes as users run it (steady state and ``--chaos``), and its
report says which faults each execution mode survives and which it does not."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

EVENT_BUS = Path(__file__).resolve().parent.parent / "examples" / "event_bus"
MODULE = "test_event_bus.py"

#: Every report row of the seed-1234 session: (kind, target) -> non-zero outcome counts.
EXPECTED_ROWS: dict[tuple[str, str], dict[str, int]] = {
    # collaborative: idempotent agents; at-least-once delivery bridges losses within its budget
    ("message_duplicate", "shop->inventory"): {"tolerated": 2},
    ("message_reorder", "shop->inventory"): {"tolerated": 1},
    ("message_delay", "billing->notifier"): {"tolerated": 2},
    ("message_drop", "shop->inventory"): {"unrecovered": 1},  # at most once: the order stalls
    ("message_drop", "inventory->billing"): {"recovered": 1},  # at least once: redelivered
    ("crash", "billing"): {"recovered": 1},
    ("partition", "billing"): {"recovered": 1},  # shorter than the redelivery budget
    ("partition", "notifier"): {"unrecovered": 1},  # longer than it
    # autonomous: its retries outlast a crash, not an outage; its memory has no checkpoint
    ("crash", "triage"): {"recovered": 1, "unrecovered": 3},
    ("memory_wipe", "triage"): {"silent": 1},
    # continuous: checkpoint and log replay survive crashes and a wiped state
    ("crash", "aggregator"): {"recovered": 2},
    ("memory_wipe", "aggregator"): {"recovered": 1},
    ("message_duplicate", "meter->aggregator"): {"tolerated": 10},
    # scheduled: a gap in tick numbers reveals a lost tick, unless it was the window's last
    ("message_drop", "clock->reporter"): {"recovered": 1, "unrecovered": 1},
    ("partition", "reporter"): {"recovered": 1},
    ("message_duplicate", "clock->reporter"): {"tolerated": 2},
}
OUTCOMES = ("recovered", "unrecovered", "silent", "tolerated")


def run_event_bus(*args: str) -> subprocess.CompletedProcess[str]:
    # As a user runs it: from its own folder with its own pytest.ini, untouched by the outer
    # run's PYTEST_* variables (xdist worker name, PYTEST_ADDOPTS).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=EVENT_BUS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_event_bus_passes_in_the_steady_state(tmp_path: Path) -> None:
    report = tmp_path / "steady.json"
    result = run_event_bus(f"--chaos-db={tmp_path / 'events.db'}", f"--chaos-report={report}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert " 18 passed" in result.stdout
    assert "agentchaos resilience report" not in result.stdout
    assert not report.exists()  # the markers were inert: nothing fired, nothing to report


@pytest.fixture(scope="module")
def chaos_session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("event_bus")
    db, report = tmp / "events.db", tmp / "chaos.json"
    result = run_event_bus(
        "--chaos", "--chaos-seed=1234", f"--chaos-db={db}", f"--chaos-report={report}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {"result": result, "db": db, "report": json.loads(report.read_text("utf-8"))}


def faults_of(report: dict[str, Any], test: str) -> list[tuple[str, str, str]]:
    [entry] = [t for t in report["tests"] if t["nodeid"] == f"{MODULE}::{test}"]
    assert entry["outcome"] == "passed"
    return sorted((f["kind"], f["target"], f["outcome"]) for f in entry["faults"])


def test_event_bus_passes_under_chaos(chaos_session: dict[str, Any]) -> None:
    stdout = chaos_session["result"].stdout

    assert " 18 passed" in stdout
    assert "agentchaos resilience report (seed 1234)" in stdout
    report = chaos_session["report"]
    assert report["seed"] == 1234
    assert report["warnings"] == []  # every fault of every test fired
    assert all(test["outcome"] == "passed" for test in report["tests"])


def test_report_rows_show_what_each_mode_survives(chaos_session: dict[str, Any]) -> None:
    rows = {(row["kind"], row["target"]): row for row in chaos_session["report"]["rows"]}

    assert set(rows) == set(EXPECTED_ROWS)
    for key, expected in EXPECTED_ROWS.items():
        row = rows[key]
        got = {outcome: row[outcome] for outcome in OUTCOMES if row[outcome]}
        assert got == expected, key
        assert row["injected"] == sum(expected.values()), key
        assert row["strategy"] == "none"  # the system's own handling, no plugin strategy
    totals = chaos_session["report"]["totals"]
    assert (totals["recovered"], totals["unrecovered"], totals["silent"]) == (9, 6, 1)
    assert totals["tolerated"] == 17


def test_continuous_agent_recovers_from_crashes(chaos_session: dict[str, Any]) -> None:
    report = chaos_session["report"]

    test = "test_continuous_agent_restores_its_checkpoint_after_a_crash"
    assert faults_of(report, test) == [("crash", "aggregator", "recovered")] * 2
    test = "test_continuous_agent_detects_a_wiped_memory_and_restores_it"
    assert faults_of(report, test) == [("memory_wipe", "aggregator", "recovered")]


def test_duplicates_are_tolerated(chaos_session: dict[str, Any]) -> None:
    report = chaos_session["report"]

    test = "test_collaborative_flow_is_idempotent_to_duplicate_events"
    assert faults_of(report, test) == [("message_duplicate", "shop->inventory", "tolerated")] * 2
    for row in report["rows"]:
        if row["kind"] == "message_duplicate":
            assert row["tolerated"] == row["injected"], row


def test_missed_tick_is_detected_by_the_agent_and_recovered(
    chaos_session: dict[str, Any],
) -> None:
    report = chaos_session["report"]
    test = "test_scheduled_agent_detects_a_missed_tick_and_catches_up"

    assert faults_of(report, test) == [("message_drop", "clock->reporter", "recovered")]
    with closing(sqlite3.connect(chaos_session["db"])) as db:
        found = db.execute(
            "SELECT faults.detected_by, faults.detected_ns <= faults.recovered_ns FROM faults"
            " JOIN runs USING (run_id) WHERE runs.nodeid = ?",
            (f"{MODULE}::{test}",),
        ).fetchall()
    assert found == [("reporter missed ticks [3]", 1)]  # the agent's gap check caught it


def test_what_the_modes_do_not_survive_is_reported_so(chaos_session: dict[str, Any]) -> None:
    report = chaos_session["report"]

    expected = {
        "test_collaborative_flow_stalls_on_a_lost_event_at_most_once": [
            ("message_drop", "shop->inventory", "unrecovered")
        ],
        "test_a_partition_longer_than_the_redelivery_budget_stalls_the_orders": [
            ("partition", "notifier", "unrecovered")
        ],
        "test_autonomous_agent_dead_letters_a_ticket_it_cannot_handle": [
            ("crash", "triage", "unrecovered")
        ]
        * 3,
        "test_autonomous_agent_without_a_checkpoint_forgets_silently": [
            ("memory_wipe", "triage", "silent")
        ],
        "test_a_tick_lost_at_the_end_of_the_window_is_found_only_by_the_audit": [
            ("message_drop", "clock->reporter", "unrecovered")
        ],
    }
    for test, faults in expected.items():
        assert faults_of(report, test) == faults, test
