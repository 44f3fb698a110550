"""What a run records while it executes: events and fault firings (mutable, run-private)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .corruption import Corruption
from .faults import Effect, FaultSpec
from .outcomes import FaultResult, classify


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


#: An event as recorded in the hot path: (monotonic ns, agent, kind, fault id, payload).
#: Its sequence number is its index in the run's list; payloads are encoded at flush time.
EventTuple = tuple[int, str, str, str | None, Any]
