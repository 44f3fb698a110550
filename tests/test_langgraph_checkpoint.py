"""The checkpoint strategy and recover_and_resume on real graphs and real checkpointers: a
crash anywhere resumes to the fault-free state without re-running an earlier superstep."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph_graphs import async_graph, chaos, checkout, started, thread

from pytest_agentchaos.errors import AgentCrashed
from pytest_agentchaos.integrations.langgraph import (
    arecover_and_resume,
    instrument,
    recover_and_resume,
)
from pytest_agentchaos.model.outcomes import Outcome

REFERENCE = checkout.build().compile().invoke(checkout.ORDER)
NODES = ["cart", "stock_check", "fraud_check", "review", "route:review", "charge_card", "email"]


@pytest.fixture(autouse=True)
def _fresh_gateway() -> None:
    checkout.GATEWAY.charges.clear()


def _graph(saver: Any = None) -> Any:
    compiled = checkout.build().compile(checkpointer=saver or InMemorySaver())
    return instrument(compiled, side_effects=["charge_card"])


def _events(run: Any, kind: str) -> list[tuple[str, Any]]:
    return [(agent, payload) for _, agent, k, _, payload in run.events if k == kind]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("target", NODES)
def test_a_crash_at_any_node_resumes_to_the_fault_free_state(target: str, when: str) -> None:
    graph = _graph()
    crash = ("crash", {"target": target, "at_call": 1, "when": when})

    with chaos(crash, strategies=("checkpoint",)) as run:
        state = graph.invoke(checkout.ORDER, thread())
    (fault,) = run.finish()

    assert state == REFERENCE
    assert fault.outcome is Outcome.RECOVERED
    assert fault.strategy == "checkpoint"
    calls = started(run)
    # Nodes of earlier supersteps (and a finished parallel sibling) never ran again.
    assert {n: calls.count(n) for n in NODES if n != target} == {n: 1 for n in NODES if n != target}
    assert len(checkout.GATEWAY.charges) == 1
    (resumed,) = _events(run, "graph_resumed")
    assert resumed[1]["resumed"] == ["review" if target == "route:review" else target]


def test_mttr_runs_from_the_failure_to_the_nodes_completion_in_the_resume() -> None:
    graph = _graph()
    with chaos(("crash", {"target": "email", "at_call": 1}), strategies=("checkpoint",)) as run:
        graph.invoke(checkout.ORDER, thread())
    (fault,) = run.finish()
    email_ends = [
        ts for ts, agent, kind, _, _ in run.events if (agent, kind) == ("email", "call_end")
    ]

    assert fault.recovered_ns == pytest.approx(email_ends[-1], abs=5_000_000)
    assert fault.detected_ns is not None
    assert fault.injected_ns <= fault.detected_ns <= email_ends[-1]


def test_a_real_sqlite_checkpointer_resumes_the_parallel_branch(tmp_path: Path) -> None:
    saver = SqliteSaver(sqlite3.connect(tmp_path / "cp.db", check_same_thread=False))
    graph = _graph(saver)

    with chaos(
        ("crash", {"target": "fraud_check", "at_call": 1}), strategies=("checkpoint",)
    ) as run:
        state = graph.invoke(checkout.ORDER, thread(), durability="sync")

    assert state == REFERENCE
    assert started(run).count("stock_check") == 1
    assert started(run).count("fraud_check") == 2


def test_a_graph_without_a_checkpointer_is_declined_with_the_reason() -> None:
    graph = instrument(checkout.build().compile(), name="no-saver")

    with (
        chaos(("crash", {"target": "email"}), strategies=("checkpoint",)) as run,
        pytest.raises(AgentCrashed),
    ):
        graph.invoke(checkout.ORDER, thread())
    (fault,) = run.finish()

    assert fault.outcome is Outcome.UNRECOVERED
    (declined,) = _events(run, "strategy_declined")
    assert declined == (
        "email",
        {"strategy": "checkpoint", "reason": "graph 'no-saver' has no checkpointer"},
    )


def test_exit_durability_still_saves_when_a_node_raises_so_the_resume_uses_it() -> None:
    graph = _graph()
    crash = ("crash", {"target": "email", "at_call": 1})

    with chaos(crash, strategies=("checkpoint",)) as run:
        state = graph.invoke(checkout.ORDER, thread(), durability="exit")

    assert state == REFERENCE
    assert started(run).count("charge_card") == 1


def test_without_the_checkpoint_strategy_the_failure_passes_through() -> None:
    graph = _graph()
    with chaos(("crash", {"target": "email"})) as run, pytest.raises(AgentCrashed):
        graph.invoke(checkout.ORDER, thread())
    assert run.finish()[0].outcome is Outcome.UNRECOVERED


def test_a_routers_crash_is_silently_skipped_by_a_plain_resume_on_the_pinned_langgraph() -> None:
    """LangGraph #8834, reproduced: what recover_and_resume exists to fix."""
    builder = checkout.build()
    graph = builder.compile(checkpointer=InMemorySaver())
    raised = {"once": True}

    def flaky_decide(state: Any) -> str:
        if raised.pop("once", False):
            raise ConnectionResetError("router lost its connection")
        return str(checkout.decide(state))

    builder.branches["review"]["decide"].path.func = flaky_decide
    with pytest.raises(ConnectionResetError):
        graph.invoke(checkout.ORDER, thread())
    assert graph.get_state(thread()).next == ()  # nothing looks left to do

    silently = graph.invoke(None, thread())

    assert silently["status"] == "reviewed"  # never charged, never emailed, no error
    assert "charge_id" not in silently


def test_recover_and_resume_restores_a_routers_lost_route_without_rerunning_the_node() -> None:
    builder = checkout.build()
    graph = builder.compile(checkpointer=InMemorySaver())
    raised = {"once": True}

    def flaky_decide(state: Any) -> str:
        if raised.pop("once", False):
            raise ConnectionResetError("router lost its connection")
        return str(checkout.decide(state))

    builder.branches["review"]["decide"].path.func = flaky_decide
    with pytest.raises(ConnectionResetError):
        graph.invoke(checkout.ORDER, thread())

    done = recover_and_resume(graph, thread())

    assert done.state == REFERENCE
    assert done.resumed == ("review",)


def test_recover_and_resume_with_nothing_to_resume_runs_nothing() -> None:
    graph = _graph()
    finished = graph.invoke(checkout.ORDER, thread())

    with chaos() as run:
        done = recover_and_resume(graph, thread())
        fresh = recover_and_resume(graph, thread("never-ran"))

    assert done.state == finished
    assert done.resumed == ()
    assert fresh.state is None
    assert fresh.resumed == ()
    assert started(run) == []


def test_recover_and_resume_in_user_code_resumes_the_failed_node_only() -> None:
    graph = _graph()
    with chaos(("crash", {"target": "charge_card", "when": "after"})) as run:
        with pytest.raises(AgentCrashed):
            graph.invoke(checkout.ORDER, thread())
        done = recover_and_resume(graph, thread(), durability="sync")

    assert done.state == REFERENCE
    assert done.resumed == ("charge_card",)
    assert len(checkout.GATEWAY.charges) == 1  # replayed: charged once
    assert _events(run, "graph_resumed")[0][1]["resumed"] == ["charge_card"]


def test_ainvoke_is_resumed_too() -> None:
    graph = instrument(async_graph().compile(checkpointer=InMemorySaver()))

    async def scenario() -> Any:
        with chaos(("crash", {"target": "done", "at_call": 1}), strategies=("checkpoint",)) as run:
            state = await graph.ainvoke({"count": 0}, thread())
        return state, run

    state, run = asyncio.run(scenario())

    assert state == {"count": 1, "log": ["bump", "done"]}
    assert started(run) == ["bump", "done", "done"]
    assert run.finish()[0].strategy == "checkpoint"


def test_arecover_and_resume_resumes_an_async_thread() -> None:
    graph = instrument(async_graph().compile(checkpointer=InMemorySaver()))

    async def scenario() -> Any:
        with chaos(("crash", {"target": "done", "at_call": 1})):
            with pytest.raises(AgentCrashed):
                await graph.ainvoke({"count": 0}, thread())
            return await arecover_and_resume(graph, thread())

    done = asyncio.run(scenario())
    assert done.state == {"count": 1, "log": ["bump", "done"]}
    assert done.resumed == ("done",)


def test_a_failed_stream_yields_the_resumed_chunks() -> None:
    graph = _graph()
    with chaos(("crash", {"target": "charge_card", "at_call": 1}), strategies=("checkpoint",)):
        chunks = list(graph.stream(checkout.ORDER, thread(), stream_mode="updates"))

    nodes = [next(iter(chunk)) for chunk in chunks]
    assert nodes == ["cart", *sorted(nodes[1:3]), "review", "charge_card", "email"]
    assert graph.get_state(thread()).values == REFERENCE


def test_a_failed_astream_yields_the_resumed_chunks() -> None:
    graph = instrument(async_graph().compile(checkpointer=InMemorySaver()))

    async def scenario() -> list[Any]:
        with chaos(("crash", {"target": "done", "at_call": 1}), strategies=("checkpoint",)):
            return [c async for c in graph.astream({"count": 0}, thread(), stream_mode="updates")]

    assert asyncio.run(scenario()) == [
        {"bump": {"count": 1, "log": ["bump"]}},
        {"done": {"log": ["done"]}},
    ]


def test_a_fault_that_fires_again_uses_up_the_attempts() -> None:
    graph = _graph()
    with (
        chaos(("crash", {"target": "email"}), strategies=("checkpoint",), retry_attempts=2) as run,
        pytest.raises(AgentCrashed),
    ):
        graph.invoke(checkout.ORDER, thread())

    assert started(run).count("email") == 3  # the call, then two resumes
    assert {f.outcome for f in run.finish()} == {Outcome.UNRECOVERED}
