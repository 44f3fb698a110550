"""Outcomes and metrics: the one place each is defined.

Every fault firing has ``injected_ns``, ``detected_ns`` and ``recovered_ns`` (monotonic clock,
nanoseconds; ``None`` when it never happened) and exactly one :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.model.kinds import Effect


class Outcome(StrEnum):
    """What became of one fault firing.

    - ``recovered``: the failure surfaced and the target later completed its step with a
      valid result (by a strategy or by the system's own handling);
    - ``unrecovered``: it surfaced and was never made good before the run ended;
    - ``silent``: a corrupted value that never surfaced: a wrong answer accepted;
    - ``tolerated``: it had no observable effect (a delay within every deadline).
    """

    RECOVERED = "recovered"
    UNRECOVERED = "unrecovered"
    SILENT = "silent"
    TOLERATED = "tolerated"


OUTCOMES: tuple[str, ...] = tuple(outcome.value for outcome in Outcome)


def classify(effect: Effect, detected_ns: int | None, recovered_ns: int | None) -> Outcome:
    """The outcome of a firing from what was observed by the end of its run.

    Undetected corruption is ``silent``, never harmless; an undetected failure or
    disturbance had no effect anyone saw, so it is ``tolerated``.
    """
    if detected_ns is None:
        return Outcome.SILENT if effect is Effect.CORRUPTION else Outcome.TOLERATED
    if recovered_ns is not None and recovered_ns >= detected_ns:
        return Outcome.RECOVERED
    return Outcome.UNRECOVERED


def mttr_s(detected_ns: int | None, recovered_ns: int | None) -> float | None:
    """Time to recover, in seconds: ``recovered - detected``."""
    if detected_ns is None or recovered_ns is None:
        return None
    return (recovered_ns - detected_ns) / 1e9


def mttd_s(injected_ns: int, detected_ns: int | None) -> float | None:
    """Time to detect, in seconds: ``detected - injected``."""
    if detected_ns is None:
        return None
    return (detected_ns - injected_ns) / 1e9


def recovery_rate(recovered: int, unrecovered: int, silent: int) -> float | None:
    """``recovered / (recovered + unrecovered + silent)``; tolerated firings do not count.

    ``None`` when no firing counts (nothing surfaced or corrupted anything).
    """
    counted = recovered + unrecovered + silent
    return recovered / counted if counted else None


class FaultResult(BaseModel):
    """One fault firing as stored and reported."""

    model_config = ConfigDict(frozen=True)

    fault_id: str
    run_id: str
    kind: str
    target: str
    params: dict[str, Any]
    call_number: int | None
    injected_ns: int
    detected_ns: int | None
    recovered_ns: int | None
    outcome: Outcome
    strategy: str | None
    detected_by: str | None
    propagation: int

    @property
    def mttr_s(self) -> float | None:
        return mttr_s(self.detected_ns, self.recovered_ns)

    @property
    def mttd_s(self) -> float | None:
        return mttd_s(self.injected_ns, self.detected_ns)


def count_outcomes(results: Iterable[FaultResult]) -> dict[str, int]:
    """How many firings ended in each outcome (every outcome present, zero included)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        counts[result.outcome.value] += 1
    return counts


def recovery_counts(results: Iterable[FaultResult]) -> tuple[int, int]:
    """``(recovered, counted)``: the numerator and denominator of :func:`recovery_rate`."""
    counts = count_outcomes(results)
    return counts["recovered"], counts["recovered"] + counts["unrecovered"] + counts["silent"]


def recovery_times(results: Iterable[FaultResult]) -> list[float]:
    """The MTTR of every recovered firing, in seconds."""
    return [r.mttr_s for r in results if r.outcome is Outcome.RECOVERED and r.mttr_s is not None]


def detection_times(results: Iterable[FaultResult]) -> list[float]:
    """The MTTD of every detected firing, in seconds."""
    return [r.mttd_s for r in results if r.mttd_s is not None]
