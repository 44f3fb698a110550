"""crash_sweep with real child processes killed by SIGKILL at every node of the example, and
resumed in fresh processes from a real SQLite checkpointer."""

from __future__ import annotations

import operator
import sqlite3
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph_graphs import checkout

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.integrations.langgraph import (
    SweepResult,
    assert_durable,
    crash_sweep,
    instrument,
)

REFERENCE = checkout.build().compile().invoke(checkout.ORDER)


@pytest.fixture(scope="module")
def sync_sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    workdir = tmp_path_factory.mktemp("sweep-sync")
    return crash_sweep(checkout.make_graph, checkout.ORDER, durability=("sync",), workdir=workdir)


def _charges(point_dir: Path) -> list[str]:
    file = checkout.charges_file(point_dir / "graph.db")
    return file.read_text().splitlines() if file.exists() else []


def test_with_sync_every_reached_kill_point_resumes_to_the_fault_free_state(
    sync_sweep: SweepResult,
) -> None:
    assert sync_sweep.reference == REFERENCE
    reached = [p for p in sync_sweep.points if p.reached]
    assert {(p.node, p.when) for p in reached} == {
        (node, when)
        for node in ["cart", "stock_check", "fraud_check", "review", "charge_card", "email"]
        for when in ["before", "after"]
    }
    assert all(p.durable and p.final_equal for p in reached)
    assert_durable(sync_sweep, durability="sync")


def _at(result: SweepResult, node: str, when: str) -> Any:
    return next(p for p in result.points if (p.node, p.when) == (node, when))


def test_the_declared_charge_is_never_taken_twice(sync_sweep: SweepResult) -> None:
    assert all(p.duplicated_effects == 0 for p in sync_sweep.points)
    after_charge = _at(sync_sweep, "charge_card", "after")
    assert after_charge.resumed == ("charge_card",)
    assert "charge_card" not in after_charge.ran_twice  # replayed from the ledger, not re-run


def test_a_kill_after_a_nodes_effect_reruns_only_that_superstep(sync_sweep: SweepResult) -> None:
    after_review = _at(sync_sweep, "review", "after")
    assert after_review.ran_twice == ("review",)
    assert after_review.resumed == ("review",)


def test_a_node_the_input_never_reaches_is_reported_not_reached(sync_sweep: SweepResult) -> None:
    rejects = [p for p in sync_sweep.points if p.node == "reject"]
    assert [p.verdict for p in rejects] == ["not reached", "not reached"]
    assert not any(p.durable for p in rejects)
    assert "never reaches 'reject'" in (rejects[0].error or "")


def test_exit_durability_saves_nothing_before_a_kill_so_nothing_is_durable(
    tmp_path: Path,
) -> None:
    result = crash_sweep(
        checkout.make_graph,
        checkout.ORDER,
        durability=("exit",),
        nodes=["cart", "charge_card"],
        workdir=tmp_path,
    )

    assert [p.verdict for p in result.points] == ["NOT durable"] * 4
    assert all(p.resumed == () and p.reached for p in result.points)
    with pytest.raises(AssertionError, match="not durable with durability='exit'"):
        assert_durable(result, durability="exit")


def test_langgraph_alone_charges_twice_after_a_kill_8039_style(tmp_path: Path) -> None:
    """Without side_effects=..., a kill after the charge makes the resume charge again."""
    result = crash_sweep(
        checkout.make_unprotected_graph,
        checkout.ORDER,
        durability=("sync",),
        nodes=["charge_card"],
        when=["after"],
        workdir=tmp_path,
    )
    (point,) = result.points

    assert point.ran_twice == ("charge_card",)
    assert point.final_equal  # the state looks right: only the provider's records show it
    assert _charges(tmp_path / "sync-charge_card-after") == ["A1 45.0", "A1 45.0"]


def test_the_declared_charge_is_recorded_once_by_the_provider(tmp_path: Path) -> None:
    crash_sweep(
        checkout.make_graph,
        checkout.ORDER,
        durability=("sync",),
        nodes=["charge_card"],
        when=["after"],
        workdir=tmp_path,
    )
    assert _charges(tmp_path / "sync-charge_card-after") == ["A1 45.0"]


class Steps(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _fails_first(state: Steps) -> Steps:
    raise ValueError("broken before the kill point")


def make_broken_graph(db_path: str) -> Any:
    """``first`` raises on every run that is not the reference (it reads a marker file)."""
    marker = Path(db_path).parent.name != "reference"
    graph = StateGraph(Steps)
    graph.add_node("first", _fails_first if marker else (lambda s: {"log": ["first"]}))
    graph.add_node("second", lambda s: {"log": ["second"]})
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    saver = SqliteSaver(sqlite3.connect(db_path, check_same_thread=False))
    return instrument(graph.compile(checkpointer=saver))


def test_a_child_that_dies_before_the_kill_point_is_an_error_never_durable(
    tmp_path: Path,
) -> None:
    result = crash_sweep(
        make_broken_graph,
        {"log": []},
        durability=("sync",),
        nodes=["second"],
        when=["before"],
        workdir=tmp_path,
    )
    (point,) = result.points

    assert point.verdict == "error"
    assert not point.durable
    assert not result.durable("sync")
    assert point.error is not None
    assert "died before the kill point: ValueError: broken before the kill point" in point.error


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"durability": ("never",)}, "durability=('never',): each must be one of sync, async"),
        ({"when": ("during",)}, "when=('during',): each must be one of before, after"),
        ({"nodes": ["charge"]}, "'charge', not a node of the graph; its nodes: cart"),
    ],
)
def test_bad_sweep_arguments_are_errors_naming_the_good_values(
    tmp_path: Path, arguments: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(ChaosConfigError) as raised:
        crash_sweep(checkout.make_graph, checkout.ORDER, workdir=tmp_path, **arguments)
    assert fragment in str(raised.value)


def test_the_table_has_a_row_per_point(sync_sweep: SweepResult) -> None:
    lines = sync_sweep.table().splitlines()
    assert len(lines) == 2 + len(sync_sweep.points)
    assert "sync" in lines[2]
    assert "durable" in lines[2]


def _sleeps(state: Steps) -> Steps:
    import time

    time.sleep(30)
    return {"log": ["slept"]}


def make_hanging_graph(db_path: str) -> Any:
    """``first`` hangs on every run that is not the reference."""
    hangs = Path(db_path).parent.name != "reference"
    graph = StateGraph(Steps)
    graph.add_node("first", _sleeps if hangs else (lambda s: {"log": ["first"]}))
    graph.add_node("second", lambda s: {"log": ["second"]})
    graph.add_edge(START, "first")
    graph.add_edge("first", "second")
    graph.add_edge("second", END)
    saver = SqliteSaver(sqlite3.connect(db_path, check_same_thread=False))
    return instrument(graph.compile(checkpointer=saver))


def test_a_child_that_times_out_is_an_error(tmp_path: Path) -> None:
    result = crash_sweep(
        make_hanging_graph,
        {"log": []},
        durability=("sync",),
        nodes=["second"],
        when=["before"],
        workdir=tmp_path,
        timeout=3.0,
    )
    (point,) = result.points

    assert point.verdict == "error"
    assert point.error == "child timed out after 3 s"
    assert not result.durable("sync")
