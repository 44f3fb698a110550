"""ecommerce_swarm under chaos, run as users run it: corrupted prices and handoffs never go
through silently, a crash at any node resumes from the checkpointer to the fault-free result,
and the example suite passes with and without ``--chaos``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import ecommerce_swarm  # noqa: F401 - loaded once here, kept by pytester's in-process runs
from pytest_agentchaos.model.kinds import KINDS

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ecommerce"

DETECTION_RUNS = """
import pytest
from ecommerce_swarm import Swarm, load_scenario

# One swarm for every run (building one costs more than a run); each run gets its own products,
# from its seed, and its own checkpoint thread. Handlers run in the sender's thread, so a short
# reply timeout only shortens the wait for a refused (corrupted) message.
SWARM = Swarm(load_scenario("product_launch_campaign").with_volume(1), seed=1, timeout=0.01)


@pytest.mark.chaos_hallucination(target="pricing.llm", field="price", at_call=1)
@pytest.mark.chaos_message_corrupt(sender="lead", receiver="pricing", times=1)
def test_launch(agentchaos):
    seed = agentchaos.seed or 0
    result = SWARM.run(SWARM.products(seed), thread=str(seed))
    [(sku, campaign)] = result.state["campaigns"].items()
    assert campaign["advertised_price"] == result.state["prices"][sku]["price"]
"""


def report_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def test_corrupted_prices_and_handoffs_are_detected_in_200_seeded_runs(pytester):
    pytester.makepyfile(test_detection=DETECTION_RUNS)
    report = pytester.path / "report.json"
    result = pytester.runpytest(
        "--chaos",
        "--chaos-seed=11",
        "--chaos-runs=200",
        f"--chaos-report={report}",
        f"--chaos-db={pytester.path / 'events.db'}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=200)
    rows = {(row["kind"], row["target"]): row for row in report_of(report)["rows"]}
    for key in (("hallucination", "pricing.llm"), ("message_corrupt", "lead->pricing")):
        row = rows[key]
        assert row["injected"] == 200, row
        assert (row["injected"] - row["silent"]) / row["injected"] >= 0.99, row
        assert row["recovered"] == 200, row  # and each was made good
    assert "silent" in result.stdout.str()  # the terminal report has the column


CRASH_SWEEP = """
import pytest
from ecommerce_swarm import Swarm, load_scenario
from pytest_agentchaos import AgentCrashed

SCENARIO = load_scenario("product_launch_campaign").with_volume(3)
NODES = ["intake", "listing", "pricing", "inventory", "marketing", "analytics", "publish"]


# The fault-free run, outside any chaos run (inside one, the inventory step's side effect
# would be recorded and replayed to the crashed swarm).
with Swarm(SCENARIO, seed=5) as FAULT_FREE:
    EXPECTED = FAULT_FREE.run().to_json()


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("node", NODES)
def test_crash_then_resume(agentchaos, tmp_path, node, when):
    agentchaos.inject("crash", target=node, at_call=1, when=when)
    with Swarm(SCENARIO, seed=5, db=str(tmp_path / "cp.db"), retries=0) as swarm:
        with pytest.raises(AgentCrashed):
            swarm.run()
        assert swarm.graph.get_state(swarm.config("run")).next == (node,)
        handled = {name: a.tasks_handled for name, a in swarm.agents.items()}
        result = swarm.resume()
        assert result.to_json() == EXPECTED
        for name, agent in swarm.agents.items():
            finished_before = NODES.index(name) < NODES.index(node)
            if finished_before:  # a node that had finished never ran again
                assert agent.tasks_handled == handled[name] == 1, name
        inventory = swarm.agents["inventory"]
        reserved = sum(r["reserved"] for r in result.state["stock"].values())
        assert inventory.ledger_units() == reserved  # stock reserved exactly once
    agentchaos.assert_recovered(node)
"""


def test_a_crash_at_each_node_resumes_to_the_fault_free_state(pytester):
    pytester.makepyfile(test_sweep=CRASH_SWEEP)
    result = pytester.runpytest(
        "--chaos",
        "--chaos-seed=3",
        f"--chaos-db={pytester.path / 'events.db'}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=14)


def test_the_example_suite_passes_in_the_steady_state(pytester):
    for name in ("conftest.py", "test_ecommerce_chaos.py", "pytest.ini"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=21)
    assert "resilience report" not in result.stdout.str()


def test_the_example_suite_passes_with_every_graph_instrumented_automatically(pytester):
    """``chaos_langgraph = auto`` instruments graphs at compile(): the swarm instruments its
    lead graph first, so its side-effect declaration (inventory) still holds."""
    for name in ("conftest.py", "test_ecommerce_chaos.py", "pytest.ini"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--chaos",
        "--chaos-seed=1234",
        "-o",
        "chaos_langgraph=auto",
        f"--chaos-db={pytester.path / 'events.db'}",
    )
    result.assert_outcomes(passed=21)


def test_the_example_suite_covers_every_layer_under_chaos(tmp_path):
    report = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--chaos",
            "--chaos-seed=1234",
            f"--chaos-db={tmp_path / 'events.db'}",
            f"--chaos-report={report}",
        ],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = report_of(report)
    layers = {KINDS[row["kind"]].layer for row in data["rows"]}
    assert layers == {info.layer for info in KINDS.values()}
    assert data["totals"]["silent"] == 0
    scenario_tests = [
        t for t in data["tests"] if "test_scenario_keeps_its_steady_state" in t["nodeid"]
    ]
    assert len(scenario_tests) == 4
    assert all(t["outcome"] == "passed" and t["faults"] for t in scenario_tests)


SWEEP_SCENARIO = "product_launch_campaign"


def sweep_graph(db_path: Any) -> Any:
    from ecommerce_swarm import Swarm, load_scenario

    scenario = load_scenario(SWEEP_SCENARIO).with_volume(2)
    return Swarm(scenario, seed=5, db=str(db_path), retries=0).graph


def test_a_kill_after_each_nodes_effect_resumes_durably(tmp_path):
    """SIGKILL (not an exception) after each node ran, in a child process; resumed in a fresh
    one from SQLite (durability "sync"): the fault-free state, and stock reserved once."""
    from ecommerce_swarm import Swarm, load_scenario
    from pytest_agentchaos.integrations.langgraph import assert_durable, crash_sweep

    with Swarm(load_scenario(SWEEP_SCENARIO).with_volume(2), seed=5) as swarm:
        start = swarm.initial_state()
    result = crash_sweep(sweep_graph, start, durability=["sync"], when=["after"], workdir=tmp_path)
    assert_durable(result)
    points = {p.node: p for p in result.points}
    assert set(points) == {
        "intake",
        "listing",
        "pricing",
        "inventory",
        "marketing",
        "analytics",
        "publish",
    }
    assert points["inventory"].ran_twice == ()  # the reservation was replayed, not repeated
