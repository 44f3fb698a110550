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
from pytest_agentchaos.model.faults import HallucinationFault
from pytest_agentchaos.model.records import Firing

__all__ = ["node_after", "route_after", "wiped_args"]

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
    fired = [f for f in run.firings[mark:] if f.target == name]
    if args and result is args[0] and any(f.spec.kind == "skip_step" for f in fired):
        return None  # no update at all: the state is left as it was
    from langgraph.types import Command

    if isinstance(result, Command):
        result = _hallucinate_update(run, fired, result)
    if isinstance(result, Command) and isinstance(result.goto, str) and result.goto:
        goto = _handoff(run, name, result.goto, destinations)
        if goto != result.goto:
            return Command(
                graph=result.graph, update=result.update, resume=result.resume, goto=goto
            )
    return result


def wiped_args(run: ChaosRun, name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments a node runs with: a pydantic state emptied if ``memory_wipe`` fired here.

    The engine empties a dict state itself; a model state has no memory it knows how to wipe,
    so the node gets a model with nothing set: every field at its default, a required one
    missing (reading it raises, as a lost state would).
    """
    if not args or not hasattr(args[0], "model_construct"):
        return args
    number = run.calls.get(name, 0)
    for firing in reversed(run.firings):
        if (
            firing.target == name
            and firing.call_number == number
            and firing.spec.kind == "memory_wipe"
            and not firing.corrupted
        ):
            firing.detail.pop("not_applicable", None)
            firing.detail["wiped"] = "state argument"
            run.corrupted(firing)
            return (type(args[0]).model_construct(_fields_set=set()), *args[1:])
    return args


def _hallucinate_update(run: ChaosRun, fired: list[Firing], command: Any) -> Any:
    """A hallucination the engine found nothing to corrupt in: the ``Command``'s update."""
    from langgraph.types import Command

    from pytest_agentchaos.model.corruption import hallucinate

    for firing in fired:
        spec = firing.spec
        if not isinstance(spec, HallucinationFault) or firing.corrupted:
            continue
        changed = hallucinate(command.update, run.rng(firing), spec.field, spec.value)
        if changed is None:
            continue
        update, firing.corruption = changed
        firing.detail.pop("not_applicable", None)
        firing.detail["field"] = f"update.{firing.corruption.path}"
        run.corrupted(firing)
        command = Command(
            graph=command.graph, update=update, resume=command.resume, goto=command.goto
        )
    return command


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
        if goto is None or goto not in destinations:
            firing.detail["not_applicable"] = (
                f"{name} can send only to {', '.join(destinations)}"
                if goto is not None
                else f"{name} has no destination but {chosen!r}"
            )
            return chosen
        firing.detail.update(intended=chosen, sent_to=goto)
        run.record(name, "handoff_changed", firing.fault_id, {"intended": chosen, "to": goto})
        return str(goto)
    return chosen
