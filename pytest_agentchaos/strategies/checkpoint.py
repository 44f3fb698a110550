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

from collections.abc import Awaitable, Mapping
from typing import Any

from pytest_agentchaos.engine.hookspecs import hookimpl
from pytest_agentchaos.engine.recovery import Failure, Recovery
from pytest_agentchaos.engine.steps import Invoke, Steps, run_as

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
    failure.record(DECLINED, {"strategy": NAME, "reason": reason})


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


def _resumes(failure: Failure) -> Steps[Recovery | None]:
    """The resume loop, written once: the run's driver (sync or async) carries it out."""
    for attempt in range(1, failure.settings.retry_attempts + 1):
        if failure.cancelled.is_set():
            return None  # the run ended: nothing left to resume for
        try:
            value = yield Invoke(failure.call_again)
        except Exception:  # recorded by the run where it happened; the next resume may do
            continue
        return Recovery(value, detail=f"resumed (attempt {attempt})")
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
    return run_as(failure.is_async, _resumes(failure))
