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


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_signal_wakes_its_waiter_at_once(driver: str) -> None:
    """A Signal is seen when it is set, not at the next poll: it feeds measured times."""
    from pytest_agentchaos.engine.steps import ASYNC_WAKE_S, Signal

    lags: list[float] = []
    for _ in range(20):
        signal = Signal()
        set_at: list[float] = []

        def fire(signal: Signal = signal, set_at: list[float] = set_at) -> None:
            set_at.append(time.perf_counter())
            signal.set()

        threading.Timer(0.005, fire).start()
        steps = _long_wait(signal)
        woke = run_sync(steps) if driver == "sync" else asyncio.run(run_async(steps))
        assert woke is True
        lags.append(time.perf_counter() - set_at[0])
    lags.sort()
    assert lags[len(lags) // 2] < ASYNC_WAKE_S / 2, lags


def test_any_of_wakes_on_either_source_and_detaches_from_both() -> None:
    from pytest_agentchaos.engine.steps import AnyOf, Signal

    reply, cancelled = Signal(), Signal()
    both = AnyOf(reply, cancelled)
    threading.Timer(0.01, cancelled.set).start()
    assert asyncio.run(run_async(_long_wait(both))) is True
    assert reply._listeners == {}
    assert cancelled._listeners == {}
    assert not reply.is_set()
