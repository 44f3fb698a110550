"""What instrumenting a LangGraph graph costs, and how fast the checkpoint strategy resumes one.

    python bench/langgraph.py

Prints, side by side, one invoke of a 5-node graph: plain, instrumented outside a chaos run
(target: within 1.05x of plain), and instrumented inside a run with no fault firing (events
recorded). Then the time to resume after a crash (MTTR: the failure to the failed node's
completion in the resume, an in-memory checkpointer) beside the time of the node it re-runs
(target: resume <= 2x that node + 5 ms). Invokes are timed in process CPU time, so a loaded
machine skews them less; the resume is wall-clock (MTTR as the report computes it). Ratios
matter, not absolute numbers. Not a test: nothing here asserts.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any, TypedDict

# Run as a script, this file's folder comes first on sys.path, and this file is named like the
# package it measures: drop the folder so `import langgraph` finds LangGraph.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

from pytest_agentchaos.engine.injection import activate  # noqa: E402
from pytest_agentchaos.engine.run import ChaosRun, RunSettings  # noqa: E402
from pytest_agentchaos.integrations.langgraph import instrument  # noqa: E402
from pytest_agentchaos.model.faults import parse_fault  # noqa: E402
from pytest_agentchaos.strategies.registry import StrategyRegistry  # noqa: E402

NODES = ("a", "b", "c", "d", "e")
INVOKES = 40
ROUNDS = 40
RESUMES = 30
WORK_S = 0.002  # what the resumed node does: 2 ms of work


class State(TypedDict, total=False):
    n: int


def step(state: State) -> State:
    return {"n": state.get("n", 0) + 1}


def working_step(state: State) -> State:
    deadline = time.perf_counter() + WORK_S
    while time.perf_counter() < deadline:  # CPU work, not a sleep: it is what a node does
        pass
    return {"n": state.get("n", 0) + 1}


def five_nodes(last: Any = step, checkpointer: Any = None) -> Any:
    graph = StateGraph(State)
    for name in NODES:
        graph.add_node(name, last if name == NODES[-1] else step)
    graph.add_edge(START, NODES[0])
    for before, after in itertools.pairwise(NODES):
        graph.add_edge(before, after)
    graph.add_edge(NODES[-1], END)
    return graph.compile(checkpointer=checkpointer)


def per_invoke_us(graph: Any, run: ChaosRun | None = None) -> float:
    previous = activate(run)
    try:
        # CPU time of this process (all its threads): waiting for a core on a loaded machine
        # is not counted, so the ratios stay meaningful under load.
        timer = timeit.Timer(lambda: graph.invoke({"n": 0}), timer=time.process_time)
        return timer.timeit(number=INVOKES) / INVOKES * 1e6
    finally:
        activate(previous)


def invoke_costs() -> dict[str, float]:
    variants: dict[str, tuple[Any, ChaosRun | None]] = {
        "plain": (five_nodes(), None),
        "outside": (instrument(five_nodes()), None),
        "inside": (instrument(five_nodes()), ChaosRun(run_id="bench", nodeid="bench", seed=1)),
    }
    for graph, run in variants.values():  # warm up: first invokes fill LangGraph's caches
        per_invoke_us(graph, run)
    best = dict.fromkeys(variants, float("inf"))
    # Interleaved in short rounds, best of each: a change of machine load hits all alike.
    for _ in range(ROUNDS):
        for key, (graph, run) in variants.items():
            if run is not None:
                run.log.clear()
            best[key] = min(best[key], per_invoke_us(graph, run))
    return best


def node_ms() -> float:
    graph = instrument(five_nodes(working_step))
    run = ChaosRun(run_id="bench-node", nodeid="bench", seed=1)
    previous = activate(run)
    try:
        for _ in range(RESUMES):
            graph.invoke({"n": 0})
    finally:
        activate(previous)
    starts = [ts for ts, agent, kind, _, _ in run.events if (agent, kind) == ("e", "call_start")]
    ends = [ts for ts, agent, kind, _, _ in run.events if (agent, kind) == ("e", "call_end")]
    return statistics.median(end - start for start, end in zip(starts, ends, strict=True)) / 1e6


def resume_ms() -> list[float]:
    registry = StrategyRegistry(entry_points=False)
    samples = []
    for attempt in range(RESUMES):
        graph = instrument(five_nodes(working_step, InMemorySaver()))
        run = ChaosRun(
            run_id=f"bench-{attempt}",
            nodeid="bench",
            seed=attempt,
            settings=RunSettings(strategies=("checkpoint",)),
            faults=[parse_fault("crash", {"target": "e", "at_call": 1})],
            recover=registry.recover,
        )
        previous = activate(run)
        try:
            graph.invoke({"n": 0}, {"configurable": {"thread_id": "bench"}})
        finally:
            activate(previous)
        (fault,) = run.finish()
        assert fault.mttr_s is not None, "the crash was not resumed"
        samples.append(fault.mttr_s * 1e3)
    return samples


def main() -> int:
    costs = invoke_costs()
    plain = costs["plain"]
    print(f"python {sys.version.split()[0]} · 5-node graph · {INVOKES} invokes x best of {ROUNDS}")
    for label, key in (
        ("plain compiled graph", "plain"),
        ("instrumented, outside a chaos run", "outside"),
        ("instrumented, inside a run, no fault", "inside"),
    ):
        value = costs[key]
        print(f"{label:<40} {value:8.1f} us CPU/invoke   {value / plain:4.2f}x")
    node = node_ms()
    resumes = resume_ms()
    p50 = statistics.median(resumes)
    p95 = sorted(resumes)[int(0.95 * (len(resumes) - 1))]
    print(f"{'node re-run by the resume (median)':<40} {node:8.2f} ms")
    print(
        f"{'resume after its crash (MTTR)':<40} {p50:8.2f} ms p50   {p95:.2f} ms p95"
        f"   target <= {2 * node + 5:.2f} ms (2x node + 5 ms)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
