"""``checkpoint``: resume a failed LangGraph thread from its graph's checkpointer.

An instrumented graph (``pytest_agentchaos.integrations.langgraph.instrument``) hands the
strategies its failed ``invoke``/``ainvoke``/``stream``/``astream`` as a failure of the node
that failed; ``call_again()`` resumes the thread from its last checkpoint (``invoke(None,
config)`` with the failed call's durability, re-evaluating a router that raised), up to
``retry_attempts`` times. Nodes of earlier supersteps never re-run. A node's own failure inside
the graph is left to the graph (its ``RetryPolicy``) and to the resume that follows, and a
graph without a checkpointer is declined with the reason recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import Any

from pytest_agentchaos.engine.hookspecs import hookimpl
from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.engine.run import Failure, Recovery

NAME = "checkpoint"
#: The key of ``Failure.kwargs`` that an instrumented graph's failure carries (the same string
#: as ``integrations.langgraph.invoke.RESUME_KEY``; the two layers may not import each other).
RESUME_KEY = "agentchaos_resume"
#: The event kind of a declined failure; the report warns once per reason.
DECLINED = "strategy_declined"


def _resume_of(failure: Failure) -> Mapping[str, Any] | None:
    resume = failure.kwargs.get(RESUME_KEY)
    return resume if isinstance(resume, Mapping) else None


def _decline(failure: Failure, reason: str) -> None:
    run = current_run()
    if run is not None:
        run.record(failure.agent, DECLINED, failure.fault_id, {"strategy": NAME, "reason": reason})


def _attempts() -> int:
    run = current_run()
    return run.settings.retry_attempts if run is not None else 1


def _usable(failure: Failure) -> bool:
    resume = _resume_of(failure)
    if resume is None:
        return False  # a node's own failure: the graph resumes once its superstep has failed
    if resume.get("checkpointer") is None:
        reason = f"graph {resume.get('graph')!r} has no checkpointer"
        if resume.get("thread_id") is None:
            reason = f"graph {resume.get('graph')!r} was called without a thread_id"
        _decline(failure, reason)
        return False
    return True


def _resume(failure: Failure) -> Recovery | None:
    for attempt in range(1, _attempts() + 1):
        try:
            return Recovery(failure.call_again(), detail=f"resumed (attempt {attempt})")
        except Exception:  # recorded by the run where it happened; the next resume may do
            continue
    return None


async def _resume_async(failure: Failure) -> Recovery | None:
    for attempt in range(1, _attempts() + 1):
        try:
            return Recovery(await failure.call_again(), detail=f"resumed (attempt {attempt})")
        except Exception:
            await asyncio.sleep(0)
            continue
    return None


@hookimpl
def agentchaos_strategies() -> list[str]:
    return [NAME]


@hookimpl
def agentchaos_recover(
    failure: Failure, strategy: str
) -> Recovery | Awaitable[Recovery | None] | None:
    if strategy != NAME or not _usable(failure):
        return None
    if failure.is_async:
        return _resume_async(failure)
    return _resume(failure)
