"""When a bus hands a planned delivery attempt over: now, after a delay, or after the next.

Every path here is a generator of :mod:`~pytest_agentchaos.engine.steps`, written once for sync
and async callers. A delayed attempt waits in the background, started by the caller's
:data:`Launch`: on a thread of its own (:func:`in_thread`, sync callers) or as a task on the
caller's event loop (:func:`on_loop`, async callers). Its wait ends early when the bus closes or
the run is cancelled, and then nothing is delivered. A held attempt (``message_reorder``) waits
until the next delivery on its link, or :meth:`Dispatcher.drain`. The :class:`Dispatcher` owns
these messages in flight, and closing the bus discards them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from pytest_agentchaos.bus.exchange import Attempt, note, until
from pytest_agentchaos.engine.steps import Signal, Steps, Wait, run_async, run_sync

__all__ = ["Dispatcher", "Launch", "in_thread", "on_loop"]

#: Starts steps in the background and returns what keeps them alive (a thread, a task).
Launch = Callable[[Steps[None]], object]

#: Carries one attempt to its receiver (the courier's delivery steps).
Deliver = Callable[[Attempt, Launch], Steps[None]]


def in_thread(steps: Steps[None]) -> object:
    """Run ``steps`` on a daemon thread of their own: how sync callers delay a delivery."""
    thread = threading.Thread(
        target=run_sync, args=(steps,), name="agentchaos-bus-delay", daemon=True
    )
    thread.start()
    return thread


def on_loop(steps: Steps[None]) -> object:
    """Run ``steps`` as a task on the running event loop: how async callers delay a delivery."""
    return asyncio.get_running_loop().create_task(run_async(steps))


class Dispatcher:
    """Hands attempts to ``deliver`` at the right time."""

    def __init__(self, lock: threading.RLock, deliver: Deliver) -> None:
        self._lock = lock
        self._deliver = deliver
        # Delayed deliveries in flight, each with what keeps it alive (an event loop holds
        # only weak references to its tasks).
        self._scheduled: dict[Attempt, object] = {}
        self._held: dict[str, list[Attempt]] = {}  # reordered messages, by link
        self._idle = Signal()  # set while no delayed delivery is in flight
        self._idle.set()
        self._closing = Signal()

    @property
    def closed(self) -> bool:
        return self._closing.is_set()

    # -------------------------------------------------------------------------- dispatching
    def dispatch(self, attempt: Attempt, launch: Launch) -> Steps[None]:
        """Deliver ``attempt`` now, or schedule it (delayed), or hold it (reordered)."""
        if attempt.lost or self._hold(attempt):  # a held attempt is let go with hold cleared
            return
        if attempt.delay_s:
            self._schedule(attempt, launch)
            return
        yield from self._deliver_now(attempt, launch)

    def _deliver_now(self, attempt: Attempt, launch: Launch) -> Steps[None]:
        """Deliver ``attempt``, then what was held back on its link to arrive after it."""
        yield from self._deliver(attempt, launch)
        for held in self._take_held(attempt.exchange.link):
            yield from self.dispatch(held, launch)

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
    def _schedule(self, attempt: Attempt, launch: Launch) -> None:
        with self._lock:  # registered before it starts: a quick arrival must find itself
            self._scheduled[attempt] = None
            self._idle.clear()
        job = launch(self._arrive(attempt, launch))
        with self._lock:
            if attempt in self._scheduled:
                self._scheduled[attempt] = job

    def _arrive(self, attempt: Attempt, launch: Launch) -> Steps[None]:
        """A delayed message waits out its delay, then arrives unless the bus closed or the
        run was cancelled meanwhile (either ends the wait at once)."""
        try:
            yield Wait(attempt.delay_s, until(self._closing, attempt.run))
            if self._in_time(attempt):
                yield from self._deliver_now(attempt, launch)
        finally:
            self._done(attempt)

    def _in_time(self, attempt: Attempt) -> bool:
        run = attempt.run
        return not self.closed and (run is None or not run.cancelled.is_set())

    def _done(self, attempt: Attempt) -> None:
        with self._lock:
            self._scheduled.pop(attempt, None)
            if not self._scheduled:
                self._idle.set()

    # --------------------------------------------------------------------- waiting, closing
    def drain(self, timeout: float, launch: Launch) -> Steps[bool]:
        """Deliver held messages, wait for delayed ones; ``True`` when none is left.

        A delayed delivery ends early when its run is cancelled, so a drain does too.
        """
        deadline = time.monotonic() + timeout
        while True:
            for attempt in self._take_held(None):
                yield from self.dispatch(attempt, launch)
            with self._lock:
                if not self._scheduled and not self._held:
                    return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            yield Wait(left, self._idle)

    @property
    def pending(self) -> int:
        """Messages delayed or held that have not been delivered yet."""
        with self._lock:
            return len(self._scheduled) + sum(len(held) for held in self._held.values())

    def close(self) -> None:
        """Discard delayed and held messages, recording each discard; the delayed ones' waits
        end at once."""
        with self._lock:
            if self.closed:
                return
            self._closing.set()
            scheduled = list(self._scheduled)
            self._scheduled.clear()
            held = [attempt for attempts in self._held.values() for attempt in attempts]
            self._held.clear()
            self._idle.set()
        for attempt in scheduled + held:
            run, exchange = attempt.run, attempt.exchange
            if run is not None and not run.cancelled.is_set():
                note(run, exchange.sender, "message_discarded", exchange, reason="bus closed")
