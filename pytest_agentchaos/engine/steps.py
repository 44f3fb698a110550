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

import contextlib
import inspect
import itertools
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "ASYNC_WAKE_S",
    "AnyOf",
    "Invoke",
    "Signal",
    "Step",
    "Steps",
    "Wait",
    "run_as",
    "run_async",
    "run_sync",
]

T = TypeVar("T")

#: How often an async wait looks at a plain ``threading.Event``, which cannot wake an event loop
#: by itself. A :class:`Signal` wakes async waiters at once: every wait of the engine, the bus
#: and the OpenAI transport uses one, so a reply or a cancellation is seen when it happens (a
#: poll would add up to this much to every measured time).
ASYNC_WAKE_S = 0.01


class Signal(threading.Event):
    """A ``threading.Event`` that also tells listeners when it is set.

    Threads wait on it as on any event; :func:`run_async` registers a listener that wakes its
    event loop through ``call_soon_threadsafe``, so async waiters wake at once, not at a poll.
    """

    def __init__(self) -> None:
        super().__init__()
        self._listeners: dict[int, Callable[[], None]] = {}
        self._keys = itertools.count()
        self._guard = threading.Lock()

    def set(self) -> None:
        super().set()
        with self._guard:
            listeners = list(self._listeners.values())
        for notify in listeners:
            notify()

    def listen(self, notify: Callable[[], None]) -> Callable[[], None]:
        """Call ``notify`` when this is set (at once if it is); returns what stops listening."""
        key = next(self._keys)
        with self._guard:
            self._listeners[key] = notify
        if self.is_set():
            notify()

        def stop() -> None:
            with self._guard:
                self._listeners.pop(key, None)

        return stop


class AnyOf(Signal):
    """Set as soon as any of ``signals`` is: one wait step that two things can end (a reply and
    the run's cancellation). It listens to its sources until :meth:`detach`, which the drivers
    call when the wait ends, so a long-lived source (the run) does not collect listeners.
    """

    def __init__(self, *signals: Signal) -> None:
        super().__init__()
        self._stops = [signal.listen(self.set) for signal in signals]

    def detach(self) -> None:
        for stop in self._stops:
            stop()
        self._stops = []


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


def run_as(is_async: bool, steps: Steps[T]) -> T | Awaitable[T]:
    """For a caller that is async (``is_async``): the coroutine of :func:`run_async` to await;
    else the result of :func:`run_sync`. What a strategy returns for an async or a sync agent."""
    return run_async(steps) if is_async else run_sync(steps)


def _wait_sync(step: Wait) -> bool:
    if step.cancel is None:
        time.sleep(step.seconds)
        return False
    try:
        return step.cancel.wait(step.seconds)
    finally:
        if isinstance(step.cancel, AnyOf):
            step.cancel.detach()


async def _wait_async(step: Wait) -> bool:
    import asyncio  # here, not at the top: the plugin must not load asyncio at start-up

    cancel = step.cancel
    if cancel is None:
        await asyncio.sleep(step.seconds)
        return False
    try:
        if isinstance(cancel, Signal):
            return await _wait_for_signal(cancel, step.seconds)
        return await _poll(cancel, step.seconds)
    finally:
        if isinstance(cancel, AnyOf):
            cancel.detach()


async def _wait_for_signal(signal: Signal, seconds: float) -> bool:
    import asyncio

    if signal.is_set():
        return True
    loop = asyncio.get_running_loop()
    woke: asyncio.Future[bool] = loop.create_future()

    def notify() -> None:  # runs on the thread that set the signal
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, woke)

    stop = signal.listen(notify)
    try:
        await asyncio.wait_for(woke, seconds)
        return True
    except TimeoutError:
        return signal.is_set()
    finally:
        stop()


def _resolve(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(True)


async def _poll(event: threading.Event, seconds: float) -> bool:
    import asyncio

    deadline = time.monotonic() + seconds
    while not event.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        await asyncio.sleep(min(left, ASYNC_WAKE_S))
    return True
