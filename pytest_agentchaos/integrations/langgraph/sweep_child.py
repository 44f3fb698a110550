"""What one crash-sweep child process does: run a graph (and die at its kill point), resume it,
or run the fault-free reference. Each writes what it saw to a pickle the parent reads."""

from __future__ import annotations

import pickle
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.integrations.langgraph import probes
from pytest_agentchaos.integrations.langgraph.instrument import instrument, is_instrumented
from pytest_agentchaos.integrations.langgraph.resume import recover_and_resume

__all__ = ["Job", "run_job"]


@dataclass(frozen=True)
class Job:
    """One child's task. ``mode`` is ``run``, ``resume`` or ``reference``."""

    mode: str
    make_graph: Callable[[str], Any]
    input: Any
    config: dict[str, Any]
    db: Path
    ledger: Path
    result: Path
    durability: str | None = None
    kill_node: str | None = None
    kill_when: str | None = None


def _graph(job: Job) -> Any:
    graph = job.make_graph(str(job.db))
    return graph if is_instrumented(graph) else instrument(graph)


def _do(job: Job) -> dict[str, Any]:
    graph = _graph(job)
    options = {} if job.durability is None else {"durability": job.durability}
    if job.mode == "resume":
        done = recover_and_resume(graph, job.config, durability=job.durability)
        return {"state": done.state, "resumed": done.resumed}
    state = graph.invoke(job.input, job.config, **options)
    info = graph.__agentchaos_info__
    return {"state": state, "nodes": list(info.nodes), "side_effects": sorted(info.side_effects)}


def run_job(job: Job) -> None:
    """The child's body: no chaos run here, whatever the parent had active."""
    activate(None)
    probes.install(probes.Probe(job.ledger, job.kill_node, job.kill_when))
    try:
        outcome = _do(job)
    except BaseException as error:  # the parent reports it; the child must still say why
        outcome = {"error": f"{type(error).__name__}: {error}", "trace": traceback.format_exc()}
    job.result.write_bytes(pickle.dumps(outcome))
