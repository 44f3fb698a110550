"""Resuming an interrupted thread from its checkpointer, routers included.

``invoke(None, config)`` resumes a thread whose last superstep failed, re-running only the
nodes that had not written. One case it gets wrong on langgraph 1.2.x (#8834): when a router
raised, the source node's writes were saved but its routing was not, ``get_state().next`` is
empty and the resume ends the graph silently. Such a task shows in ``get_state().tasks`` with
an error although it is not in ``next``: its saved update is written again *as that node*
(``update_state(..., as_node=...)``), which evaluates the route from the node's saved state
without running the node (or its side effect) a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.errors import RecoveryFailed
from pytest_agentchaos.integrations.langgraph.context import passing_through

#: LangGraph's channel for a task's error (langgraph._internal._constants.ERROR).
ERROR = "__error__"

__all__ = [
    "Resumed",
    "aprepare_resume",
    "arecover_and_resume",
    "graph_name",
    "prepare_resume",
    "recover_and_resume",
]


@dataclass(frozen=True)
class Resumed:
    """What :func:`recover_and_resume` did: the final state and the nodes it resumed."""

    state: Any
    resumed: tuple[str, ...]


def graph_name(graph: Any) -> str:
    info = getattr(graph, "__agentchaos_info__", None)
    return str(getattr(info, "name", None) or getattr(graph, "name", None) or "LangGraph")


def _lost_routes(snapshot: Any) -> list[Any]:
    """Tasks that failed yet are not to be re-run: their routing was lost (#8834)."""
    return [t for t in snapshot.tasks if t.error is not None and t.name not in snapshot.next]


def _options(durability: str | None) -> dict[str, Any]:
    return {} if durability is None else {"durability": durability}


def _note(graph: Any, config: Any, resumed: tuple[str, ...], rerouted: tuple[str, ...]) -> None:
    run = current_run()
    if run is not None:
        thread = (config.get("configurable") or {}).get("thread_id")
        payload = {"thread_id": thread, "resumed": list(resumed), "rerouted": list(rerouted)}
        run.record(graph_name(graph), "graph_resumed", None, payload)


def _route_writes(graph: Any, task: Any, values: Any, config: Any) -> list[tuple[str, Any]]:
    """The writes the task's routers would have made, evaluated on the saved state."""
    writes: list[tuple[str, Any]] = []
    for branch in graph.builder.branches.get(task.name, {}).values():
        chosen = branch.path.invoke(values, config)
        for label in chosen if isinstance(chosen, list | tuple) else [chosen]:
            if not isinstance(label, str):
                raise RecoveryFailed(
                    f"router of {task.name!r} returned {label!r}: only a route to named nodes "
                    "can be restored"
                )
            node = branch.ends[label] if branch.ends else label
            if node != "__end__":
                writes.append((f"branch:to:{node}", None))
    return writes


def _restore_routes(graph: Any, snapshot: Any, lost: list[Any]) -> None:
    """Write the lost routing of each task as that task's own pending writes (#8834).

    The task then counts as finished with its routing, as if its router had not raised, and
    the resume continues from there; the node itself (and its side effect) does not run again.
    """
    from langgraph.pregel._algo import task_path_str

    saved = graph.checkpointer.get_tuple(snapshot.config)
    for task in lost:
        own = [(c, v) for tid, c, v in saved.pending_writes if tid == task.id and c != ERROR]
        routes = _route_writes(graph, task, snapshot.values, snapshot.config)
        graph.checkpointer.put_writes(saved.config, own + routes, task.id, task_path_str(task.path))


async def _arestore_routes(graph: Any, snapshot: Any, lost: list[Any]) -> None:
    from langgraph.pregel._algo import task_path_str

    saved = await graph.checkpointer.aget_tuple(snapshot.config)
    for task in lost:
        own = [(c, v) for tid, c, v in saved.pending_writes if tid == task.id and c != ERROR]
        routes = _route_writes(graph, task, snapshot.values, snapshot.config)
        await graph.checkpointer.aput_writes(
            saved.config, own + routes, task.id, task_path_str(task.path)
        )


def prepare_resume(graph: Any, config: Any, snapshot: Any) -> tuple[str, ...]:
    """Restore lost routes (#8834) and note the resume; the nodes resumed (empty: nothing)."""
    lost = _lost_routes(snapshot)
    if not snapshot.next and not lost:
        return ()
    _restore_routes(graph, snapshot, lost)
    resumed = tuple(dict.fromkeys([*snapshot.next, *(t.name for t in lost)]))
    _note(graph, config, resumed, tuple(t.name for t in lost))
    return resumed


async def aprepare_resume(graph: Any, config: Any, snapshot: Any) -> tuple[str, ...]:
    lost = _lost_routes(snapshot)
    if not snapshot.next and not lost:
        return ()
    await _arestore_routes(graph, snapshot, lost)
    resumed = tuple(dict.fromkeys([*snapshot.next, *(t.name for t in lost)]))
    _note(graph, config, resumed, tuple(t.name for t in lost))
    return resumed


def _values(snapshot: Any) -> Any:
    return snapshot.values if snapshot.created_at is not None else None


def recover_and_resume(graph: Any, config: Any, *, durability: str | None = None) -> Resumed:
    """Resume the thread of ``config`` from its last checkpoint, if it was interrupted.

    Returns the final state and the nodes resumed (empty when there was nothing to resume;
    then nothing runs, and a thread with no checkpoint at all has ``state`` ``None``).
    """
    resumed = prepare_resume(graph, config, graph.get_state(config))
    if resumed:
        with passing_through():
            graph.invoke(None, config, **_options(durability))
    return Resumed(_values(graph.get_state(config)), resumed)


async def arecover_and_resume(graph: Any, config: Any, *, durability: str | None = None) -> Resumed:
    """:func:`recover_and_resume` for graphs run with ``ainvoke``/``astream``."""
    resumed = await aprepare_resume(graph, config, await graph.aget_state(config))
    if resumed:
        with passing_through():
            await graph.ainvoke(None, config, **_options(durability))
    return Resumed(_values(await graph.aget_state(config)), resumed)
