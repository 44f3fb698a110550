"""``retry``: call the failed agent again, with exponential backoff, a bounded number of times.

Settings (``chaos_settings`` marker or ``agentchaos_config``): ``retry_attempts`` (default 3)
and ``retry_backoff`` (seconds before the first retry, doubled each time; default 0.01).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from pytest_agentchaos.engine.hookspecs import hookimpl
from pytest_agentchaos.engine.run import Failure, Recovery

NAME = "retry"


def _wait_s(failure: Failure, attempt: int) -> float:
    return float(failure.run.settings.retry_backoff_s * (2 ** (attempt - 1)))


def _note(failure: Failure, attempt: int, wait_s: float) -> None:
    fault_id = failure.firing.fault_id if failure.firing else None
    failure.run.record(
        failure.agent, "retry_attempt", fault_id, {"attempt": attempt, "wait_s": wait_s}
    )


def _retry(failure: Failure) -> Recovery | None:
    for attempt in range(1, failure.run.settings.retry_attempts + 1):
        wait_s = _wait_s(failure, attempt)
        _note(failure, attempt, wait_s)
        if failure.run.cancelled.wait(wait_s):
            return None
        try:
            return Recovery(failure.call_again(), detail=f"attempt {attempt}")
        except Exception:  # the next attempt may succeed; the run recorded this failure
            continue
    return None


async def _retry_async(failure: Failure) -> Recovery | None:
    for attempt in range(1, failure.run.settings.retry_attempts + 1):
        wait_s = _wait_s(failure, attempt)
        _note(failure, attempt, wait_s)
        await asyncio.sleep(wait_s)
        try:
            return Recovery(await failure.call_again(), detail=f"attempt {attempt}")
        except Exception:
            continue
    return None


@hookimpl
def agentchaos_strategies() -> list[str]:
    return [NAME]


@hookimpl
def agentchaos_recover(
    failure: Failure, strategy: str
) -> Recovery | Awaitable[Recovery | None] | None:
    if strategy != NAME:
        return None
    if failure.is_async:
        return _retry_async(failure)
    return _retry(failure)
