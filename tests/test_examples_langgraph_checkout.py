"""The LangGraph checkout example passes as users run it, plain and under --chaos, and its
report shows every crash resumed by checkpoint and the kill sweep's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph_graphs import EXAMPLE


def run_example(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_checkout_suite_passes_in_the_steady_state(tmp_path: Path) -> None:
    result = run_example(f"--chaos-db={tmp_path / 'events.db'}")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "16 passed" in result.stdout
    assert "agentchaos resilience report" not in result.stdout


@pytest.fixture(scope="module")
def chaos_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("checkout")
    result = run_example(
        "--chaos",
        "--chaos-seed=1234",
        f"--chaos-db={tmp / 'e.db'}",
        f"--chaos-report={tmp / 'r.json'}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {"stdout": result.stdout, "report": json.loads((tmp / "r.json").read_text())}


def test_every_crash_including_the_parallel_branch_and_router_is_resumed(
    chaos_run: dict[str, Any],
) -> None:
    crashes = {r["target"]: r for r in chaos_run["report"]["rows"] if r["kind"] == "crash"}

    assert sorted(crashes) == sorted(
        ["cart", "stock_check", "fraud_check", "review", "route:review", "charge_card", "email"]
    )
    assert all(r["recovered"] == 2 and r["strategy"] == "checkpoint" for r in crashes.values())


def test_the_sweep_table_is_in_the_terminal_and_json_reports(chaos_run: dict[str, Any]) -> None:
    sweep = chaos_run["report"]["sweep"]
    sync = [p for p in sweep if p["durability"] == "sync"]

    assert len(sweep) == 3 * 7 * 2  # 3 modes, 7 nodes (reject is never reached), before/after
    assert {p["verdict"] for p in sync} == {"durable", "not reached"}
    assert all(p["duplicated_effects"] == 0 for p in sweep)
    assert {p["verdict"] for p in sweep if p["durability"] == "exit"} == {
        "NOT durable",
        "not reached",
    }
    assert (
        "kill sweep (SIGKILL, resumed from the checkpointer in a fresh process):"
        in chaos_run["stdout"]
    )
    assert " of 42 kill points durable" in chaos_run["stdout"]
