"""An instrumented graph's ``invoke``/``ainvoke``/``stream``/``astream``: failures go to the
configured strategies, whose ``call_again()`` resumes the thread from the checkpointer.

The failure a strategy sees is the failed node's (``agent``, ``error``, ``fault_id``);
``kwargs[RESUME_KEY]`` tells the ``checkpoint`` strategy what it can resume (the graph, its
thread, whether it has a checkpointer). Only runs whose strategies include ``checkpoint`` are
handled here; otherwise a failure passes through untouched.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.engine.recovery import CallFailure
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.steps import Invoke, Steps, run_async, run_sync
from pytest_agentchaos.errors import RecoveryFailed
from pytest_agentchaos.integrations.langgraph.context import FAILED_AT, inside, passing_through
from pytest_agentchaos.integrations.langgraph.registry import INFO, GraphInfo, graph_info
from pytest_agentchaos.integrations.langgraph.resume import (
    Resumed,
    aprepare_resume,
    arecover_and_resume,
    graph_name,
    prepare_resume,
    recover_and_resume,
)

__all__ = ["RESUME_KEY", "patch_invocations"]

#: The key of ``Failure.kwargs`` that marks a failed graph invocation. The ``checkpoint``
#: strategy reads the same string (strategies may not import integrations).
RESUME_KEY = "agentchaos_resume"
STRATEGY = "checkpoint"


def _config_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[1] if len(args) > 1 else kwargs.get("config")


def _announce(run: ChaosRun, info: GraphInfo) -> None:
    """Name the graph's agents in the run once, so a marker that selects none can say so."""
    if info.announced_to is not run:
        info.announced_to = run
        payload = {"graph": info.name, "agents": info.agents()}
        run.record(info.name, "graph_instrumented", None, payload)


def _handled(info: GraphInfo) -> ChaosRun | None:
    """The run whose strategies should see this call's failure, if any."""
    if inside.get():
        return None
    run = current_run()
    if run is None:
        return None
    _announce(run, info)
    if STRATEGY not in run.settings.strategies:
        return None
    if not run.strategies.apply():
        return None
    return run


def _failure(
    run: ChaosRun,
    graph: Any,
    info: GraphInfo,
    error: Exception,
    config: Any,
    durability: str | None,
    is_async: bool,
    again: Callable[[], Any],
) -> CallFailure:
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    has_saver = graph.checkpointer not in (None, False) and thread is not None
    resume = {
        "graph": info.name,
        "thread_id": thread,
        "checkpointer": type(graph.checkpointer).__name__ if has_saver else None,
        "durability": durability,
    }
    fault_id = getattr(error, "fault_id", None)
    firing = next((f for f in run.firings if f.fault_id == fault_id), None) if fault_id else None
    return CallFailure(
        _run=run,
        agent=str(getattr(error, FAILED_AT, None) or info.name),
        error=error,
        fault=firing.spec if firing is not None else None,
        fault_id=fault_id,
        call_number=0,  # a graph invocation, not a numbered agent call
        args=(None, config),
        kwargs={RESUME_KEY: resume},
        is_async=is_async,
        _again=again,
    )


def _recovering(
    run: ChaosRun,
    graph: Any,
    info: GraphInfo,
    call: Callable[..., Any],
    resume: Callable[..., Any],
    is_async: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Steps[Any]:
    """One invocation that hands its failure to the strategies, written once for invoke and
    ainvoke: the driver awaits what the async graph returns."""
    with passing_through():
        try:
            return (yield Invoke(call, args, kwargs))
        except Exception as error:
            config, durability = _config_of(args, kwargs), kwargs.get("durability")
            again = functools.partial(resume, graph, config, durability)
            failure = _failure(run, graph, info, error, config, durability, is_async, again)
            recovery = yield from run.strategies.recover_steps(failure)
            if recovery is None:
                raise
            return recovery.value.state


def patch_invocations(graph: Any, info: GraphInfo) -> None:
    """Route failures of this compiled graph's calls to the strategies (once per graph)."""
    if graph_info(graph) is not None:
        return
    setattr(graph, INFO, info)
    invoke, ainvoke, stream, astream = graph.invoke, graph.ainvoke, graph.stream, graph.astream

    @functools.wraps(invoke)
    def invoke_recovering(*args: Any, **kwargs: Any) -> Any:
        run = _handled(info)
        if run is None:
            return invoke(*args, **kwargs)
        return run_sync(_recovering(run, graph, info, invoke, _resume, False, args, kwargs))

    @functools.wraps(ainvoke)
    async def ainvoke_recovering(*args: Any, **kwargs: Any) -> Any:
        run = _handled(info)
        if run is None:
            return await ainvoke(*args, **kwargs)
        steps = _recovering(run, graph, info, ainvoke, _aresume, True, args, kwargs)
        return await run_async(steps)

    @functools.wraps(stream)
    def stream_recovering(*args: Any, **kwargs: Any) -> Iterator[Any]:
        run = _handled(info)
        if run is None:
            yield from stream(*args, **kwargs)
            return
        chunks = iter(stream(*args, **kwargs))
        while True:
            try:
                with passing_through():
                    chunk = next(chunks)
            except StopIteration:
                return
            except Exception as error:
                config = _config_of(args, kwargs)
                again = functools.partial(_restream, stream, graph, args, kwargs)
                failure = _failure(
                    run, graph, info, error, config, kwargs.get("durability"), False, again
                )
                recovery = run_sync(run.strategies.recover_steps(failure))
                if recovery is None:
                    raise
                yield from recovery.value
                return
            yield chunk

    @functools.wraps(astream)
    async def astream_recovering(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        run = _handled(info)
        if run is None:
            async for chunk in astream(*args, **kwargs):
                yield chunk
            return
        chunks = astream(*args, **kwargs).__aiter__()
        while True:
            token = inside.set(True)
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                return
            except Exception as error:
                config = _config_of(args, kwargs)
                again = functools.partial(_arestream, astream, graph, args, kwargs)
                failure = _failure(
                    run, graph, info, error, config, kwargs.get("durability"), True, again
                )
                recovery = await run_async(run.strategies.recover_steps(failure))
                if recovery is None:
                    raise
                for resumed in recovery.value:
                    yield resumed
                return
            finally:
                inside.reset(token)
            yield chunk

    graph.invoke, graph.ainvoke = invoke_recovering, ainvoke_recovering
    graph.stream, graph.astream = stream_recovering, astream_recovering


def _nothing_saved(graph: Any, config: Any) -> RecoveryFailed:
    thread = ((config or {}).get("configurable") or {}).get("thread_id")
    return RecoveryFailed(
        f"thread {thread!r} of {graph_name(graph)!r} has no interrupted step to resume: "
        "its checkpointer saved none (durability='exit' saves only when the run ends)"
    )


def _resume(graph: Any, config: Any, durability: str | None) -> Resumed:
    done = recover_and_resume(graph, config, durability=durability)
    if not done.resumed:
        raise _nothing_saved(graph, config)
    return done


async def _aresume(graph: Any, config: Any, durability: str | None) -> Resumed:
    done = await arecover_and_resume(graph, config, durability=durability)
    if not done.resumed:
        raise _nothing_saved(graph, config)
    return done


def _resumed_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """The arguments of a stream call, with its input replaced by ``None`` (resume)."""
    if args:
        return (None, *args[1:]), kwargs
    return (), {**kwargs, "input": None}


def _restream(stream: Callable[..., Any], graph: Any, args: Any, kwargs: Any) -> list[Any]:
    """Resume a failed stream: the chunks of the resumed part, all at once."""
    config = _config_of(args, kwargs)
    with passing_through():
        if not prepare_resume(graph, config, graph.get_state(config)):
            raise _nothing_saved(graph, config)
        resumed_args, resumed_kwargs = _resumed_call(args, kwargs)
        return list(stream(*resumed_args, **resumed_kwargs))


async def _arestream(astream: Callable[..., Any], graph: Any, args: Any, kwargs: Any) -> list[Any]:
    config = _config_of(args, kwargs)
    token = inside.set(True)
    try:
        if not await aprepare_resume(graph, config, await graph.aget_state(config)):
            raise _nothing_saved(graph, config)
        resumed_args, resumed_kwargs = _resumed_call(args, kwargs)
        return [chunk async for chunk in astream(*resumed_args, **resumed_kwargs)]
    finally:
        inside.reset(token)
