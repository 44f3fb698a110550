"""``instrument(graph)``: every node of a LangGraph graph an agent, every router one too.

A node is the agent named after it (a subgraph's nodes ``parent/child``), a conditional edge's
function the agent ``route:<source>``. The graph's own objects are patched in place (the
``func``/``afunc`` of the runnables LangGraph built from the user's functions), so the user's
code is not edited and a graph compiled before or after ``instrument()`` behaves the same.
Outside a chaos run a node costs one extra Python call: nothing measurable beside LangGraph.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pytest_agentchaos.engine.injection import agent, current_run
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.integrations.langgraph import graph_faults, probes
from pytest_agentchaos.integrations.langgraph.context import FAILED_AT
from pytest_agentchaos.integrations.langgraph.keys import node_key
from pytest_agentchaos.integrations.langgraph.registry import INFO, GraphInfo

__all__ = ["instrument", "is_instrumented"]

#: Set on every function this module put in a graph, so instrumenting twice changes nothing.
MARK = "__agentchaos_node__"
#: Whether an instrumented node function runs once per idempotency key.
EFFECT_MARK = "__agentchaos_node_effect__"


def _graph_types() -> tuple[Any, Any]:
    from langgraph.graph.state import CompiledStateGraph, StateGraph

    return StateGraph, CompiledStateGraph


def instrument(graph: Any, *, side_effects: Iterable[str] = (), name: str | None = None) -> Any:
    """Make every node and router of ``graph`` an agent; returns ``graph`` itself.

    ``graph`` is a ``StateGraph`` (before ``compile()``) or a compiled graph. ``side_effects``
    names the nodes whose effects must never happen twice: each runs at most once per
    idempotency key (thread id, node name, the state it was called with) in a chaos run, and
    a repeat gets the recorded update. A node function already declared with
    ``agent(..., side_effect=True)`` keeps its own key.
    """
    state_graph, compiled_graph = _graph_types()
    if isinstance(graph, compiled_graph):
        builder, compiled = graph.builder, graph
    elif isinstance(graph, state_graph):
        builder, compiled = graph, None
    else:
        kind = type(graph)
        raise TypeError(
            f"instrument() needs a langgraph StateGraph or a compiled graph, got "
            f"{kind.__module__}.{kind.__qualname__}"
        )
    wanted = frozenset(side_effects)
    # Instrumented before (chaos_langgraph = auto, or twice by hand): extend what it knows.
    info = getattr(builder, INFO, None) or GraphInfo(
        name or getattr(compiled, "name", None) or "LangGraph"
    )
    unknown = sorted(wanted - set(_node_names(builder, "")))
    if unknown:
        raise ChaosConfigError(
            f"instrument(side_effects=...) names {', '.join(map(repr, unknown))}, not a node "
            f"of the graph; its nodes: {', '.join(_node_names(builder, '')) or '(none)'}"
        )
    _instrument_builder(builder, "", wanted, info)
    setattr(builder, INFO, info)
    if compiled is not None:
        from pytest_agentchaos.integrations.langgraph.invoke import patch_invocations

        patch_invocations(compiled, info)
    else:
        _patch_compile(builder, info)
    return graph


def is_instrumented(graph: Any) -> bool:
    """Whether ``instrument()`` has already patched this graph's nodes."""
    builder = getattr(graph, "builder", graph)
    nodes = getattr(builder, "nodes", {})
    return any(_is_ours(getattr(spec.runnable, "func", None)) for spec in nodes.values()) or any(
        _is_ours(getattr(spec.runnable, "afunc", None)) for spec in nodes.values()
    )


def _is_ours(fn: object) -> bool:
    return getattr(fn, MARK, None) is not None


def _patch_compile(builder: Any, info: GraphInfo) -> None:
    """A StateGraph instrumented before ``compile()``: its compiled graphs recover too."""
    if "compile" in vars(builder):
        return
    compile_graph = builder.compile

    @functools.wraps(compile_graph)
    def compile_instrumented(*args: Any, **kwargs: Any) -> Any:
        from pytest_agentchaos.integrations.langgraph.invoke import patch_invocations

        compiled = compile_graph(*args, **kwargs)
        patch_invocations(compiled, info)
        return compiled

    builder.compile = compile_instrumented


def _node_names(builder: Any, prefix: str) -> list[str]:
    """The agent names of a graph's nodes, a subgraph's as ``parent/child``."""
    _, compiled_graph = _graph_types()
    names: list[str] = []
    for node, spec in builder.nodes.items():
        if isinstance(spec.runnable, compiled_graph):
            names.extend(_node_names(spec.runnable.builder, f"{prefix}{node}/"))
        else:
            names.append(prefix + node)
    return names


def _instrument_builder(
    builder: Any, prefix: str, side_effects: frozenset[str], info: GraphInfo
) -> None:
    _, compiled_graph = _graph_types()
    everywhere = (*builder.nodes, "__end__")
    for node, spec in builder.nodes.items():
        agent_name = prefix + node
        runnable = spec.runnable
        if isinstance(runnable, compiled_graph):  # a subgraph added as a node
            _instrument_builder(runnable.builder, agent_name + "/", side_effects, info)
            continue
        effect = agent_name in side_effects
        goto = tuple(spec.ends) if spec.ends else everywhere  # where its Command may go
        handles = _handled_by(node, spec, prefix)
        if _patch_runnable(runnable, Role(agent_name, effect, goto, router=False, handles=handles)):
            if agent_name not in info.nodes:
                info.nodes.append(agent_name)
            if effect or _declared_side_effect(runnable):
                info.side_effects.add(agent_name)
    for source, branches in builder.branches.items():
        for branch, spec in branches.items():
            router = f"route:{prefix}{source}" + ("" if len(branches) == 1 else f":{branch}")
            labels = tuple(str(label) for label in spec.ends) if spec.ends else everywhere
            if _patch_runnable(spec.path, Role(router, False, labels, router=True)) and (
                router not in info.routers
            ):
                info.routers.append(router)


@dataclass(frozen=True)
class Role:
    """What an instrumented function is in its graph."""

    name: str  # its agent name
    side_effect: bool
    destinations: tuple[str, ...]  # where a wrong handoff may send control instead
    router: bool
    handles: str | None = None  # an error handler: the node whose failure it handles


#: How LangGraph 1.2 names the node it adds for ``add_node(..., error_handler=...)``.
_HANDLER_PREFIX = "__error_handler__"


def _handled_by(node: str, spec: Any, prefix: str) -> str | None:
    """The node an error-handler node handles: its completion makes that node's failure good
    (the system's own resilience, like a RetryPolicy's successful retry)."""
    if getattr(spec, "is_error_handler", False) and node.startswith(_HANDLER_PREFIX):
        return prefix + node[len(_HANDLER_PREFIX) :]
    return None


def _patch_runnable(runnable: Any, role: Role) -> bool:
    """Replace the functions inside a LangGraph ``RunnableCallable``; False if it is not one."""
    func, afunc = getattr(runnable, "func", None), getattr(runnable, "afunc", None)
    if func is None and afunc is None:
        return False  # a LangChain Runnable of another kind: left as it is
    if _is_ours(func) or _is_ours(afunc):
        if not role.side_effect or _effect_of(func) or _effect_of(afunc):
            return True
        # Instrumented before without this node's side effect (chaos_langgraph = auto, then
        # instrument(graph, side_effects=...)): wrap the node's own function again, so the
        # declaration is never dropped and the effect never runs twice.
        func, afunc = _originals(func, afunc)
        runnable.func, runnable.afunc = func, afunc
    if func is not None:
        wrapped = _wrap(func, role)
        runnable.func = wrapped
        if afunc is not None and _runs_in_executor(afunc, func):
            # LangGraph runs a sync node of an async graph through this partial: keep it so.
            runnable.afunc = functools.wraps(wrapped)(functools.partial(afunc.func, None, wrapped))
            return True
    if afunc is not None:
        runnable.afunc = _wrap(afunc, role)
    return True


def _effect_of(fn: object) -> bool:
    return bool(getattr(fn, EFFECT_MARK, False))


def _originals(func: Any, afunc: Any) -> tuple[Any, Any]:
    """The functions a node had before instrument() wrapped them."""
    original = func.__wrapped__ if _is_ours(func) else func
    if isinstance(afunc, functools.partial) and afunc.args[1:2] and _is_ours(afunc.args[1]):
        return original, functools.partial(afunc.func, afunc.args[0], original, *afunc.args[2:])
    return original, (afunc.__wrapped__ if _is_ours(afunc) else afunc)


def _runs_in_executor(afunc: Any, func: Callable[..., Any]) -> bool:
    return isinstance(afunc, functools.partial) and afunc.args[1:2] == (func,)


def _declared_side_effect(runnable: Any) -> bool:
    return any(
        getattr(fn, "__agentchaos_side_effect__", False)
        for fn in (getattr(runnable, "func", None), getattr(runnable, "afunc", None))
    )


def _wrap(fn: Callable[..., Any], role: Role) -> Callable[..., Any]:
    name, side_effect = role.name, role.side_effect
    if getattr(fn, "__agentchaos_agent__", None) is not None:
        # Already an agent (maybe side-effecting, with its own key): run it under the node's
        # name too, but never give it a second idempotency key.
        side_effect = False
    body = probes.probed(fn, name, side_effect)
    inner = agent(name, side_effect=side_effect, key=node_key if side_effect else None)(
        body if role.router else _wiping(body, name)
    )
    after = graph_faults.route_after if role.router else graph_faults.node_after
    goto, handles = role.destinations, role.handles
    if inspect.iscoroutinefunction(fn):

        async def async_node(*args: Any, **kwargs: Any) -> Any:
            run = current_run()
            try:
                if run is None:
                    return await body(*args, **kwargs)
                mark = len(run.firings)
                result = after(run, name, mark, args, await inner(*args, **kwargs), goto)
                if handles is not None:
                    run.complete(handles)
                return result
            except Exception as error:
                _blame(error, name)
                raise

        wrapper: Callable[..., Any] = async_node
    else:

        def node(*args: Any, **kwargs: Any) -> Any:
            run = current_run()
            try:
                if run is None:
                    return body(*args, **kwargs)
                mark = len(run.firings)
                result = after(run, name, mark, args, inner(*args, **kwargs), goto)
                if handles is not None:
                    run.complete(handles)
                return result
            except Exception as error:
                _blame(error, name)
                raise

        wrapper = node
    functools.update_wrapper(wrapper, fn)
    setattr(wrapper, MARK, name)
    setattr(wrapper, EFFECT_MARK, side_effect)
    return wrapper


def _wiping(body: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``body`` handed an emptied pydantic state when ``memory_wipe`` fired at this call."""
    if inspect.iscoroutinefunction(body):

        async def async_wiping(*args: Any, **kwargs: Any) -> Any:
            run = current_run()
            if run is not None and run.firings:
                args = graph_faults.wiped_args(run, name, args)
            return await body(*args, **kwargs)

        return functools.wraps(body)(async_wiping)

    def wiping(*args: Any, **kwargs: Any) -> Any:
        run = current_run()
        if run is not None and run.firings:
            args = graph_faults.wiped_args(run, name, args)
        return body(*args, **kwargs)

    return functools.wraps(body)(wiping)


def _blame(error: Exception, name: str) -> None:
    """Note on the exception which node or router raised it first (recovery reads it)."""
    if getattr(error, FAILED_AT, None) is None:
        with contextlib.suppress(AttributeError):  # an exception type with __slots__
            setattr(error, FAILED_AT, name)
