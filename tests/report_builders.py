"""Builders of real event stores with known fault firings, for the report and CLI tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.store.sqlite import EventStore, RunRow

MS = 1_000_000  # ns


def firing(
    n: int, mttr_ns: int | None, kind: str = "crash", target: str = "pricing"
) -> FaultResult:
    """One crash firing of run ``r<n>``, recovered ``mttr_ns`` after detection (None: never)."""
    detected = 1_000 + n * 100 * MS
    return FaultResult(
        fault_id=f"f{n}",
        run_id=f"r{n}",
        kind=kind,
        target=target,
        params={},
        call_number=1,
        injected_ns=detected - 1_000,
        detected_ns=detected,
        recovered_ns=None if mttr_ns is None else detected + mttr_ns,
        outcome=Outcome.RECOVERED if mttr_ns is not None else Outcome.UNRECOVERED,
        strategy=None,
        detected_by="AgentCrashed",
        propagation=0,
    )


def write_store(
    path: Path, firings: Sequence[FaultResult], session: str = "s", nodeid: str = "t.py::t"
) -> None:
    """A real store with one session and one run per firing, as a chaos session leaves it."""
    with EventStore.open(path) as store:
        store.start_session(session, 1, ["--chaos"], "test", 0)
        for f in firings:
            run = RunRow(f.run_id, session, nodeid, 1, 0, "chaos", "passed", 0, 1, 0.0, "main", "")
            store.write_run(run, [], [f])
