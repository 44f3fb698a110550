"""When a bus hands a planned delivery attempt over: now, after a delay, or after the next.

A delayed attempt waits on a timer thread (sync callers) or the caller's event loop (async
callers); a held attempt (``message_reorder``) waits until the next delivery on its link, or
:meth:`Dispatcher.drain`. The :class:`Dispatcher` owns these messages in flight, and closing the
bus discards them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from pytest_agentchaos.bus.exchange import Attempt, note

__all__ = ["Dispatcher"]


class _Cancellable(Protocol):
    def cancel(self) -> object: ...


class Dispatcher:
    """Hands attempts to ``deliver`` (``adeliver`` for async callers) at the right time."""

    def __init__(
        self,
        lock: threading.RLock,
        deliver: Callable[[Attempt], None],
        adeliver: Callable[[Attempt], Awaitable[None]],
    ) -> None:
        self._lock = lock
        self._idle = threading.Condition(lock)
        self._deliver, self._adeliver = deliver, adeliver
        self._scheduled: dict[Attempt, _Cancellable] = {}  # delayed deliveries in flight
        self._held: dict[str, list[Attempt]] = {}  # reordered messages, by link
        self.closed = False

    # -------------------------------------------------------------------------- dispatching
    def dispatch(self, attempt: Attempt) -> None:
        if attempt.lost or self._hold(attempt):
            return
        self._dispatch_now(attempt)

    async def adispatch(self, attempt: Attempt) -> None:
        if attempt.lost or self._hold(attempt):
            return
        await self._adispatch_now(attempt)

    def _dispatch_now(self, attempt: Attempt) -> None:
        if attempt.delay_s:
            timer = threading.Timer(attempt.delay_s, self._arrive, (attempt,))
            timer.daemon = True
            with self._lock:
                self._scheduled[attempt] = timer
            timer.start()
            return
        self._deliver(attempt)
        for held in self._take_held(attempt.exchange.link):
            self._dispatch_now(held)

    async def _adispatch_now(self, attempt: Attempt) -> None:
        if attempt.delay_s:
            loop = asyncio.get_running_loop()
            with self._lock:
                self._scheduled[attempt] = loop.call_later(
                    attempt.delay_s, self._astart, attempt, loop
                )
            return
        await self._adeliver(attempt)
        for held in self._take_held(attempt.exchange.link):
            await self._adispatch_now(held)

    def _hold(self, attempt: Attempt) -> bool:
        if not attempt.hold:
            return False
        attempt.hold = False  # released by the next delivery on its link, or drain()
        with self._lock:
            self._held.setdefault(attempt.exchange.link, []).append(attempt)
        return True

    def _take_held(self, link: str | None) -> list[Attempt]:
        if not self._held:
            return []
        with self._lock:
            if link is not None:
                return self._held.pop(link, [])
            held = [attempt for attempts in self._held.values() for attempt in attempts]
            self._held.clear()
            return held

    # ---------------------------------------------------------------------- delayed arrival
    def _arrive(self, attempt: Attempt) -> None:
        """A delayed message arrives (on its timer's thread)."""
        try:
            if self._in_time(attempt):
                self._deliver(attempt)
                for held in self._take_held(attempt.exchange.link):
                    self._dispatch_now(held)
        finally:
            self._done(attempt)

    def _astart(self, attempt: Attempt, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if attempt not in self._scheduled:  # closed meanwhile
                return
            task = loop.create_task(self._aarrive(attempt))
            self._scheduled[attempt] = task

    async def _aarrive(self, attempt: Attempt) -> None:
        try:
            if self._in_time(attempt):
                await self._adeliver(attempt)
                for held in self._take_held(attempt.exchange.link):
                    await self._adispatch_now(held)
        finally:
            self._done(attempt)

    def _in_time(self, attempt: Attempt) -> bool:
        run = attempt.run
        return not self.closed and (run is None or not run.cancelled.is_set())

    def _done(self, attempt: Attempt) -> None:
        with self._idle:
            self._scheduled.pop(attempt, None)
            self._idle.notify_all()

    # --------------------------------------------------------------------- waiting, closing
    def drain(self, timeout: float) -> bool:
        """Deliver held messages, wait for delayed ones; ``True`` when none is left."""
        deadline = time.monotonic() + timeout
        while True:
            for attempt in self._take_held(None):
                self._dispatch_now(attempt)
            with self._idle:
                while self._scheduled and (left := deadline - time.monotonic()) > 0:
                    self._idle.wait(left)
                if not self._scheduled and not self._held:
                    return True
            if time.monotonic() >= deadline:
                return False

    async def adrain(self, timeout: float) -> bool:
        """:meth:`drain` for async code: delays scheduled on its loop can run meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            for attempt in self._take_held(None):
                await self._adispatch_now(attempt)
            if not self._scheduled and not self._held:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.001)

    @property
    def pending(self) -> int:
        """Messages delayed or held that have not been delivered yet."""
        with self._lock:
            return len(self._scheduled) + sum(len(held) for held in self._held.values())

    def close(self) -> None:
        """Cancel delayed deliveries and discard held messages, recording each discard."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            scheduled = list(self._scheduled.items())
            self._scheduled.clear()
            held = [attempt for attempts in self._held.values() for attempt in attempts]
            self._held.clear()
            self._idle.notify_all()
        for _, job in scheduled:
            job.cancel()
        for attempt in [attempt for attempt, _ in scheduled] + held:
            run, exchange = attempt.run, attempt.exchange
            if run is not None and not run.cancelled.is_set():
                note(run, exchange.sender, "message_discarded", exchange, reason="bus closed")
