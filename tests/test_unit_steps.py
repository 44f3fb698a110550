"""The step drivers: one generator, the same behaviour under run_sync and run_async."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_async, run_sync


def _retrying(fn: Any, tries: int, cancel: threading.Event | None = None) -> Steps[Any]:
    for attempt in range(tries):
        try:
            return (yield Invoke(fn, (attempt,)))
        except ValueError:
            woke = yield Wait(0.01 * (attempt + 1), cancel)
            if woke:
                return "cancelled"
    raise LookupError("gave up")


def _flaky(fail_times: int) -> Any:
    calls: list[int] = []

    def fn(attempt: int) -> str:
        calls.append(attempt)
        if len(calls) <= fail_times:
            raise ValueError(attempt)
        return f"ok after {attempt}"

    return fn, calls


def test_the_same_generator_retries_alike_sync_and_async() -> None:
    fn, calls = _flaky(2)
    assert run_sync(_retrying(fn, 3)) == "ok after 2"
    assert calls == [0, 1, 2]
    fn, calls = _flaky(2)
    assert asyncio.run(run_async(_retrying(fn, 3))) == "ok after 2"
    assert calls == [0, 1, 2]


def test_an_exception_the_generator_does_not_catch_propagates() -> None:
    fn, _ = _flaky(5)
    with pytest.raises(LookupError, match="gave up"):
        run_sync(_retrying(fn, 2))
    with pytest.raises(LookupError, match="gave up"):
        asyncio.run(run_async(_retrying(fn, 2)))


def test_async_driver_awaits_coroutines_sync_driver_does_not() -> None:
    async def coro(attempt: int) -> str:
        await asyncio.sleep(0)
        return f"awaited {attempt}"

    assert asyncio.run(run_async(_retrying(coro, 1))) == "awaited 0"


def _long_wait(cancel: threading.Event) -> Steps[bool]:
    return (yield Wait(5.0, cancel))


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_wait_wakes_within_50ms_when_cancelled(driver: str) -> None:
    cancel = threading.Event()
    threading.Timer(0.05, cancel.set).start()
    started = time.monotonic()
    if driver == "sync":
        woke = run_sync(_long_wait(cancel))
    else:
        woke = asyncio.run(run_async(_long_wait(cancel)))
    elapsed = time.monotonic() - started
    assert woke is True
    assert elapsed < 0.05 + 0.05, elapsed


def test_cancelled_error_is_thrown_into_the_generator() -> None:
    seen: list[str] = []

    def steps() -> Steps[None]:
        try:
            yield Invoke(asyncio.sleep, (5,))
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        task = asyncio.ensure_future(run_async(steps()))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled"]
