"""``retry``: call the failed agent again, with exponential backoff, a bounded number of times.

Settings (``chaos_settings`` marker or ``agentchaos_config``): ``retry_attempts`` (default 3)
and ``retry_backoff`` (seconds before the first retry, doubled each time; default 0.01).
"""

from __future__ import annotations

from collections.abc import Awaitable

from pytest_agentchaos.engine.hookspecs import hookimpl
from pytest_agentchaos.engine.recovery import Failure, Recovery
from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_as

NAME = "retry"


def _attempts(failure: Failure) -> Steps[Recovery | None]:
    """The retry loop, written once: the run's driver (sync or async) carries it out."""
    settings = failure.settings
    for attempt in range(1, settings.retry_attempts + 1):
        wait_s = float(settings.retry_backoff_s * (2 ** (attempt - 1)))
        failure.record("retry_attempt", {"attempt": attempt, "wait_s": wait_s})
        if (yield Wait(wait_s, failure.cancelled)):
            return None  # the run ended while we waited: nothing left to recover for
        try:
            value = yield Invoke(failure.call_again)
        except Exception:  # the next attempt may succeed; the run recorded this failure
            continue
        return Recovery(value, detail=f"attempt {attempt}")
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
    return run_as(failure.is_async, _attempts(failure))
