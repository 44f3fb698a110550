"""What a run records while it executes: events and fault firings (mutable, run-private)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.model.corruption import Corruption
from pytest_agentchaos.model.faults import FaultSpec
from pytest_agentchaos.model.kinds import Effect
from pytest_agentchaos.model.log import EventTuple
from pytest_agentchaos.model.outcomes import FaultResult, classify

__all__ = ["CallCounts", "Event", "EventTuple", "Firing"]


@dataclass
class Firing:
    """One fault firing while its run is still going; frozen into a FaultResult at the end."""

    fault_id: str
    spec: FaultSpec
    target: str
    call_number: int | None
    injected_ns: int
    detected_ns: int | None = None
    recovered_ns: int | None = None
    strategy: str | None = None
    detected_by: str | None = None
    propagation: int = 0
    corruption: Corruption | None = None
    corrupted: bool = False  # a corrupting fault that found nothing to corrupt had no effect
    acting: bool = False  # an after-call fault not yet stamped: it acts when the call returns
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def effect(self) -> Effect:
        """The spec's effect, except that a corruption that corrupted nothing only disturbed."""
        effect = self.spec.effect
        if effect is Effect.CORRUPTION and not self.corrupted:
            return Effect.DISTURBANCE
        return effect

    def freeze(self, run_id: str) -> FaultResult:
        params = self.spec.params()
        if self.detail:
            params["detail"] = self.detail
        return FaultResult(
            fault_id=self.fault_id,
            run_id=run_id,
            kind=self.spec.kind,
            target=self.target,
            params=params,
            call_number=self.call_number,
            injected_ns=self.injected_ns,
            detected_ns=self.detected_ns,
            recovered_ns=self.recovered_ns,
            outcome=classify(self.effect, self.detected_ns, self.recovered_ns),
            strategy=self.strategy,
            detected_by=self.detected_by,
            propagation=self.propagation,
        )


class Event(BaseModel):
    """One recorded event (calls, faults, detections, recoveries, messages)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    ts_ns: int
    agent: str
    kind: str
    fault_id: str | None
    payload: Any


class CallCounts(Mapping[str, int]):
    """How many calls each agent (or client, or link) has had in a run; numbers new ones.

    ``next()`` on an ``itertools.count`` runs in C without releasing the GIL, so threads calling
    one agent get distinct numbers without a lock (a lock here cost more than the rest of the
    call path together). The count is read back from the counter's ``repr``, ``count(N)``.
    """

    def __init__(self) -> None:
        #: name -> its counter; the chaos run's hot path calls ``next()`` on it directly.
        self.counters: dict[str, Iterator[int]] = {}
        self._counters = self.counters

    def next(self, name: str) -> int:
        """Number one more call of ``name`` (1, 2, ...)."""
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters.setdefault(name, itertools.count(1))
        return next(counter)

    def __getitem__(self, name: str) -> int:
        return int(repr(self._counters[name])[len("count(") : -1]) - 1

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._counters))

    def __len__(self) -> int:
        return len(self._counters)

    def __repr__(self) -> str:
        return repr(dict(self))
