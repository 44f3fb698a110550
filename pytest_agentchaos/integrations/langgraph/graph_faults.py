"""What faults mean at a graph node, beyond what the engine does at any agent call.

The engine runs every fault kind at an agent call; a LangGraph node's return value is an
*update* though, so two kinds need the graph's meaning: ``skip_step`` returns no update (the
engine hands the input back, which reducers would append twice), and ``wrong_handoff`` changes
where control goes: a router's answer, or the ``goto`` of a node's ``Command``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pytest_agentchaos.engine.run import ChaosRun

__all__ = ["node_after", "route_after"]

_HANDOFF = frozenset({"wrong_handoff"})


def node_after(
    run: ChaosRun,
    name: str,
    mark: int,
    args: tuple[Any, ...],
    result: Any,
    destinations: Sequence[str],
) -> Any:
    """A node returned ``result`` in a chaos run; ``mark`` is where its firings begin."""
    skipped = any(f.target == name and f.spec.kind == "skip_step" for f in run.firings[mark:])
    if skipped and args and result is args[0]:
        return None  # no update at all: the state is left as it was
    from langgraph.types import Command

    if isinstance(result, Command) and isinstance(result.goto, str) and result.goto:
        goto = _handoff(run, name, result.goto, destinations)
        if goto != result.goto:
            return Command(
                graph=result.graph, update=result.update, resume=result.resume, goto=goto
            )
    return result


def route_after(
    run: ChaosRun,
    name: str,
    mark: int,
    args: tuple[Any, ...],
    result: Any,
    destinations: Sequence[str],
) -> Any:
    """A router chose ``result`` (a destination or label, or a list of them)."""
    if isinstance(result, list | tuple) and result and isinstance(result[0], str):
        return [_handoff(run, name, result[0], destinations), *result[1:]]
    if isinstance(result, str):
        return _handoff(run, name, result, destinations)
    return result


def _handoff(run: ChaosRun, name: str, chosen: str, destinations: Sequence[str]) -> str:
    armed = run.armed(_HANDOFF)
    if not armed:
        return chosen
    number = run.calls.get(name, 0)
    for index, spec in armed:
        if not spec.matches(name) or not run.decide(index, name, number):
            continue
        firing = run.fire(spec, name, number)
        others = [d for d in destinations if d != chosen]
        goto = getattr(spec, "to", None) or (run.rng(firing).choice(others) if others else None)
        if goto is None:
            firing.detail["not_applicable"] = f"{name} has no destination but {chosen!r}"
            return chosen
        firing.detail.update(intended=chosen, sent_to=goto)
        run.record(name, "handoff_changed", firing.fault_id, {"intended": chosen, "to": goto})
        return str(goto)
    return chosen
