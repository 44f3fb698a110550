"""Scheduled mode: an agent driven by interval ticks.

The clock publishes a numbered tick (a ``HEARTBEAT``) on ``tick`` every ``interval_s`` seconds;
tests drive it by its tick counter (``Clock.run(ticks)``) rather than by the wall clock, and give
it an interval only when a fault needs time to pass. On each tick the reporter runs that slot's
job, :func:`compile_digest` (marked ``@agent("reporter")``).

A tick can go missing (lost to a drop or a partition). The reporter notices by the gap in the
tick numbers when the next tick comes, says so through its ``on_missed(reason)`` hook, and
catches up: it runs the missed slots' jobs before the current one. A duplicate or late tick
(a number it has seen) is ignored, so no job runs twice.

A tick lost at the end of the window has no later tick to reveal it: ``close(through=N)``, the
end-of-window audit, finds it and raises :class:`MissedTicks`; those jobs never ran in time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from events import event, fields

from pytest_agentchaos import Message, MessageBus, MessageType, agent

TICK = "tick"


class MissedTicks(Exception):
    """Ticks of a closed window that never arrived: their jobs did not run."""


class Clock:
    """The scheduler: publishes tick 1, 2, 3, ... every ``interval_s`` seconds."""

    name = "clock"

    def __init__(
        self,
        bus: MessageBus,
        interval_s: float = 0.0,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self.bus, self.interval_s, self.sleep = bus, interval_s, sleep
        self.seq = 0

    def tick(self) -> int:
        self.seq += 1
        self.bus.publish(TICK, event(TICK, self.name, MessageType.HEARTBEAT, seq=self.seq))
        return self.seq

    def run(self, ticks: int) -> int:
        """Publish ``ticks`` ticks, one interval apart; returns the last tick's number."""
        for _ in range(ticks):
            self.tick()
            if self.interval_s:
                self.sleep(self.interval_s)
        return self.seq


@agent("reporter")
def compile_digest(slot: int) -> dict[str, Any]:
    """The job of one slot (one interval): here, a digest named after it."""
    return {"slot": slot, "title": f"digest #{slot}"}


class Reporter:
    name = "reporter"

    def __init__(self, bus: MessageBus, on_missed: Callable[[str], object] | None = None) -> None:
        self.on_missed = on_missed
        self.last = 0  # the last tick handled
        self.digests: dict[int, dict[str, Any]] = {}
        self.caught_up: list[int] = []  # slots run late, on a later tick
        self.ignored: list[int] = []  # duplicate or late ticks
        bus.subscribe(TICK, self.name, self.on_tick)

    def on_tick(self, message: Message) -> None:
        seq = fields(message)["seq"]
        if seq <= self.last:
            self.ignored.append(seq)
            return
        missed = list(range(self.last + 1, seq))
        if missed:
            self._missed(missed)
            self.caught_up.extend(missed)
        for slot in (*missed, seq):
            self.digests[slot] = compile_digest(slot)
        self.last = seq

    def close(self, through: int) -> None:
        """The end-of-window audit: every tick up to ``through`` must have been handled."""
        missed = list(range(self.last + 1, through + 1))
        if missed:
            self._missed(missed)
            raise MissedTicks(f"ticks {missed} never arrived; their jobs did not run")

    def _missed(self, slots: list[int]) -> None:
        if self.on_missed is not None:
            self.on_missed(f"{self.name} missed ticks {slots}")
