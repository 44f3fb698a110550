"""The resilience report as data: frozen models that survive xdist and serialize to JSON.

The JSON report is these models dumped; its keys are a contract (DESIGN.md): add, never remove.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReportRow(_Frozen):
    kind: str
    target: str
    strategy: str
    injected: int
    recovered: int
    unrecovered: int
    silent: int
    tolerated: int
    recovery_rate: float | None
    ci_low: float | None
    ci_high: float | None
    mttr_p50_s: float | None
    mttr_p95_s: float | None
    mttr_mean_s: float | None
    mttd_p50_s: float | None
    propagation: int


class Totals(_Frozen):
    injected: int
    recovered: int
    unrecovered: int
    silent: int
    tolerated: int
    recovery_rate: float | None
    recovery_rate_ci: list[float] | None
    mttr_s: dict[str, float | None]
    mttd_s: dict[str, float | None]
    propagation: int = 0  # later agent calls that received a corrupted value


class TestFault(_Frozen):
    kind: str
    target: str
    outcome: str
    mttr_s: float | None
    strategy: str | None


class TestEntry(_Frozen):
    nodeid: str
    seed: int
    repetition: int
    outcome: str
    faults: list[TestFault]
    reproduce: str


class SweepRow(_Frozen):
    """One kill point of a LangGraph crash sweep (``sweep`` in the JSON report)."""

    nodeid: str
    durability: str
    node: str
    when: str
    verdict: str
    durable: bool
    resumed: list[str]
    final_equal: bool
    ran_twice: list[str]
    duplicated_effects: int
    error: str | None


class Report(_Frozen):
    version: int = 1
    seed: int | None
    session_id: str | None
    totals: Totals
    rows: list[ReportRow]
    tests: list[TestEntry]
    warnings: list[str]
    sweep: list[SweepRow] = []
