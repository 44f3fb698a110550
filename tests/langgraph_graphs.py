"""Real LangGraph graphs and a chaos run to drive them, shared by the tests of the integration."""

from __future__ import annotations

import importlib
import operator
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun, RunSettings
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.strategies.registry import StrategyRegistry

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "langgraph_checkout"
if str(EXAMPLE) not in sys.path:
    sys.path.insert(0, str(EXAMPLE))
checkout: Any = importlib.import_module("checkout")


@contextmanager
def chaos(
    *faults: tuple[str, dict[str, Any]], strategies: tuple[str, ...] = (), **settings: Any
) -> Iterator[ChaosRun]:
    """A chaos run with these faults and strategies, active for the block."""
    registry = StrategyRegistry(entry_points=False)
    run = ChaosRun(
        run_id="run-1",
        nodeid="tests/test_langgraph.py::test",
        seed=1234,
        settings=RunSettings(strategies=strategies, **settings),
        faults=[parse_fault(kind, arguments) for kind, arguments in faults],
        recover=registry.recover,
    )
    previous = activate(run)
    try:
        yield run
    finally:
        activate(previous)


def started(run: ChaosRun) -> list[str]:
    """The agents whose calls started, in order (a replayed side effect does not start)."""
    return [agent for _, agent, kind, _, _ in run.events if kind == "call_start"]


def thread(name: str = "t1") -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


class Inner(TypedDict, total=False):
    words: Annotated[list[str], operator.add]


def inner_graph() -> Any:
    graph = StateGraph(Inner)
    graph.add_node("draft", lambda state: {"words": ["draft"]})
    graph.add_node("polish", lambda state: {"words": ["polish"]})
    graph.add_edge(START, "draft")
    graph.add_edge("draft", "polish")
    graph.add_edge("polish", END)
    return graph.compile()


def nested_graph() -> Any:
    """A parent graph with a compiled subgraph as its node ``write``, then ``publish``."""
    graph = StateGraph(Inner)
    graph.add_node("write", inner_graph())
    graph.add_node("publish", lambda state: {"words": ["publish"]})
    graph.add_edge(START, "write")
    graph.add_edge("write", "publish")
    graph.add_edge("publish", END)
    return graph


class Counter(TypedDict, total=False):
    count: int
    log: Annotated[list[str], operator.add]


async def a_bump(state: Counter) -> Counter:
    return {"count": state.get("count", 0) + 1, "log": ["bump"]}


async def a_done(state: Counter) -> Counter:
    return {"log": ["done"]}


def async_graph(**node_options: Any) -> Any:
    """Two async nodes, ``bump`` then ``done``; ``node_options`` go to ``bump``."""
    graph = StateGraph(Counter)
    graph.add_node("bump", a_bump, **node_options)
    graph.add_node("done", a_done)
    graph.add_edge(START, "bump")
    graph.add_edge("bump", "done")
    graph.add_edge("done", END)
    return graph


def handoff_graph() -> Any:
    """``pick`` hands off with ``Command(goto=...)`` to ``left`` (or ``right``)."""

    def pick(state: Counter) -> Command[Any]:
        return Command(update={"log": ["pick"]}, goto="left")

    graph = StateGraph(Counter)
    graph.add_node("pick", pick, destinations=("left", "right"))
    graph.add_node("left", lambda state: {"log": ["left"]})
    graph.add_node("right", lambda state: {"log": ["right"]})
    graph.add_edge(START, "pick")
    graph.add_edge("left", END)
    graph.add_edge("right", END)
    return graph
