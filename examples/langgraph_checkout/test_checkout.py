"""The checkout survives a crash at any node, and a kill -9 anywhere, with the charge taken once.

Every test passes plain (`pytest`, the markers are inert) and under `pytest --chaos`, where
the crashes fire and the `checkpoint` strategy (pytest.ini) resumes the thread.
"""

from __future__ import annotations

from typing import Any

import pytest
from checkout import GATEWAY, ORDER, make_graph

from pytest_agentchaos.integrations.langgraph import assert_durable, crash_sweep

CONFIG = {"configurable": {"thread_id": "order-A1"}}
NODES = ["cart", "stock_check", "fraud_check", "review", "route:review", "charge_card", "email"]
POINTS = [(node, when) for node in NODES for when in ("before", "after")]


@pytest.mark.parametrize(
    "node",
    [
        pytest.param(
            node,
            marks=pytest.mark.chaos_crash(target=node, at_call=1, when=when),
            id=f"{node}-{when}",
        )
        for node in NODES
        for when in ("before", "after")
    ],
)
def test_a_crash_at_any_node_ends_paid_and_charged_once(
    agentchaos: Any, checkout_graph: Any, node: str
) -> None:
    state = checkout_graph.invoke(ORDER, CONFIG)

    assert state["status"] == "paid"
    assert GATEWAY.charges == [("A1", 45.0)]
    agentchaos.assert_parity(checkout_graph, ORDER, CONFIG)
    if agentchaos.enabled:
        agentchaos.assert_recovered(node)


@pytest.mark.chaos_delay(target="fraud_check", seconds=0.02)
def test_a_slow_fraud_check_changes_nothing(agentchaos: Any, checkout_graph: Any) -> None:
    assert checkout_graph.invoke(ORDER, CONFIG)["emails"] == ["A1: paid"]


def test_kill_sweep_sync_is_durable_and_exit_is_not(agentchaos: Any, tmp_path: Any) -> None:
    result = crash_sweep(make_graph, ORDER, workdir=tmp_path)
    print(result.table())

    assert_durable(result, durability="sync")
    assert not result.durable("exit")  # exit saves only at the end: a kill loses the run
    assert all(p.duplicated_effects == 0 for p in result.points)
