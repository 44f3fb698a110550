"""Continuous mode: a long-running agent folding a stream of readings into a running total.

The meter appends every reading to a durable log (its ``Stream``, like a Kafka partition) and
publishes it on ``readings``. The running-total agent is a loop: it takes readings from its
inbox and folds each into its state with one step, :func:`fold`, marked ``@agent("aggregator")``
so that ``chaos_crash`` and ``chaos_memory_wipe`` can hit it. Every ``every`` readings it saves
its state to a checkpoint store.

When a step fails (a crash, or a state that fails its own check after a memory wipe) the agent
restarts as a fresh process would: it reloads the last checkpoint, drops its inbox and re-reads
the log from the checkpoint on, so the readings since then are folded again, exactly once each.
A reading it has already folded (a duplicate delivery, one re-read from the log) is skipped by its
sequence number; a gap is filled from the log. After ``max_restarts`` it gives up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from events import event, fields

from pytest_agentchaos import Message, MessageBus, agent

READINGS = "readings"
START: dict[str, Any] = {"seq": 0, "total": 0, "count": 0}


class StateLost(RuntimeError):
    """The agent's state is not a state: its memory was lost."""


class RestartLimitReached(RuntimeError):
    """The agent kept failing after ``max_restarts`` restarts."""


@dataclass
class Stream:
    """The durable, append-only log of readings; sequence numbers start at 1."""

    readings: list[dict[str, Any]] = field(default_factory=list)

    def append(self, value: int) -> dict[str, Any]:
        reading = {"seq": len(self.readings) + 1, "value": value}
        self.readings.append(reading)
        return reading

    def after(self, seq: int) -> list[dict[str, Any]]:
        return self.readings[seq:]


@dataclass
class CheckpointStore:
    """Where the agent's state survives it (a file or a table in real life)."""

    saved: dict[str, Any] = field(default_factory=lambda: dict(START))
    saves: int = 0

    def save(self, state: dict[str, Any]) -> None:
        self.saved, self.saves = dict(state), self.saves + 1

    def load(self) -> dict[str, Any]:
        return dict(self.saved)


class Meter:
    """The producer: logs each reading, then publishes it."""

    name = "meter"

    def __init__(self, bus: MessageBus, stream: Stream) -> None:
        self.bus, self.stream = bus, stream

    def emit(self, *values: int) -> None:
        for value in values:
            reading = self.stream.append(value)
            self.bus.publish(READINGS, event(READINGS, self.name, **reading))


@agent("aggregator")
def fold(state: dict[str, Any], reading: dict[str, Any]) -> dict[str, Any]:
    """One step of the loop: the state after ``reading`` (a pure function of its arguments)."""
    if set(state) != set(START) or reading["seq"] != state["seq"] + 1:
        raise StateLost(f"cannot fold reading {reading['seq']} into {state!r}")
    return {
        "seq": reading["seq"],
        "total": state["total"] + reading["value"],
        "count": state["count"] + 1,
    }


class RunningTotal:
    name = "aggregator"

    def __init__(
        self,
        bus: MessageBus,
        stream: Stream,
        checkpoints: CheckpointStore,
        every: int = 4,
        max_restarts: int = 3,
    ) -> None:
        self.stream, self.checkpoints = stream, checkpoints
        self.every, self.max_restarts = every, max_restarts
        self.state = checkpoints.load()
        self.inbox: deque[dict[str, Any]] = deque()
        self.restarts = 0
        bus.subscribe(READINGS, self.name, self.on_reading)

    def on_reading(self, message: Message) -> None:
        self.inbox.append(fields(message))

    def run(self) -> dict[str, Any]:
        """The loop, until the inbox is empty; returns the state."""
        while self.inbox:
            reading = self.inbox.popleft()
            try:
                self._catch_up(reading)
            except Exception as error:  # the process died: restart it
                self._restart(error)
        return self.state

    def _catch_up(self, reading: dict[str, Any]) -> None:
        if reading["seq"] <= self.state["seq"]:
            return  # folded already
        missing = [r for r in self.stream.after(self.state["seq"]) if r["seq"] < reading["seq"]]
        for step in (*missing, reading):
            self.state = fold(self.state, step)
            if self.state["count"] % self.every == 0:
                self.checkpoints.save(self.state)

    def _restart(self, error: Exception) -> None:
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise RestartLimitReached(f"gave up after {self.max_restarts} restarts") from error
        self.state = self.checkpoints.load()
        self.inbox = deque(self.stream.after(self.state["seq"]))
