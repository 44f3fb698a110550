"""Control flow written once: a generator yields steps, one sync and one async driver run them.

A call, a recovery, a retry loop, a delivery or an LLM exchange is written as a generator that
yields :class:`Wait` and :class:`Invoke` steps and receives each step's result (or has its
exception thrown in at the ``yield``, so ordinary ``try``/``except`` around a ``yield`` reads
like the code it replaces). :func:`run_sync` and :func:`run_async` carry the steps out; they
are the only places that differ between the sync and the async path, so both obey the same
rules, cancellation included::

    def attempts(fn, tries, backoff, cancel):
        for attempt in range(tries):
            try:
                return (yield Invoke(fn))
            except ConnectionError:
                yield Wait(backoff * 2**attempt, cancel)
        raise RecoveryFailed(...)

    run_sync(attempts(...))            # from sync code
    await run_async(attempts(...))     # from async code: awaitables returned by fn are awaited
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["ASYNC_WAKE_S", "Invoke", "Step", "Steps", "Wait", "run_async", "run_sync"]

T = TypeVar("T")

#: How often an async wait looks at its cancel event: a threading.Event cannot wake an event
#: loop by itself, and a cancelled run must wake its async waits within 50 ms.
ASYNC_WAKE_S = 0.01


@dataclass(frozen=True, slots=True)
class Wait:
    """Block for ``seconds``, or less when ``cancel`` is set (the run ended or was cancelled).

    The step's result is ``True`` when the wait ended early because ``cancel`` was set.
    """

    seconds: float
    cancel: threading.Event | None = None


@dataclass(frozen=True, slots=True)
class Invoke:
    """Call ``fn(*args, **kwargs)``; under :func:`run_async` an awaitable result is awaited."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


Step = Wait | Invoke
Steps = Generator[Step, Any, T]


def run_sync(steps: Steps[T]) -> T:
    """Drive ``steps`` on this thread."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(step, Wait):
                value = _wait_sync(step)
            else:
                value = step.fn(*step.args, **step.kwargs)
        except BaseException as raised:  # thrown back in: the generator decides, as code would
            error = raised


async def run_async(steps: Steps[T]) -> T:
    """Drive ``steps`` in the running event loop."""
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        value, error = None, None
        try:
            if isinstance(step, Wait):
                value = await _wait_async(step)
            else:
                value = step.fn(*step.args, **step.kwargs)
                if inspect.isawaitable(value):
                    value = await value
        except BaseException as raised:  # CancelledError too: the generator records, re-raises
            error = raised


def _wait_sync(step: Wait) -> bool:
    if step.cancel is None:
        time.sleep(step.seconds)
        return False
    return step.cancel.wait(step.seconds)


async def _wait_async(step: Wait) -> bool:
    import asyncio  # here, not at the top: the plugin must not load asyncio at start-up

    if step.cancel is None:
        await asyncio.sleep(step.seconds)
        return False
    deadline = time.monotonic() + step.seconds
    while not step.cancel.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, ASYNC_WAKE_S))
    return True
