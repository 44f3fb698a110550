"""Every wait of a chaos call wakes when its run ends: hang, delay and retry, sync and async.

The call paths are one generator of steps (``engine.steps``) under a sync and an async driver,
so both obey the same rule: every wait passes ``run.cancelled``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.injection import activate, agent
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.strategies.registry import StrategyRegistry

#: The target is 50 ms (an async wait polls its cancel event every 10 ms); doubled so a loaded
#: 2-core CI machine does not fail it. The waits below are 5 s: the old async path slept them.
WAKE_BOUND_S = 0.1
LONG_S = 5.0


@agent("slow")
def slow_sync() -> str:
    return "done"


@agent("slow")
async def slow_async() -> str:
    return "done"


CASES: dict[str, tuple[tuple[str, dict[str, Any]], RunSettings]] = {
    "hang": (("hang", {"target": "slow", "seconds": LONG_S}), RunSettings()),
    "delay": (("delay", {"target": "slow", "seconds": LONG_S}), RunSettings()),
    "retry": (
        ("crash", {"target": "slow"}),
        RunSettings(strategies=("retry",), retry_attempts=3, retry_backoff_s=LONG_S),
    ),
}


def _run_for(case: str) -> ChaosRun:
    (kind, arguments), settings = CASES[case]
    return ChaosRun(
        run_id="cancel",
        nodeid="t",
        seed=1,
        faults=[parse_fault(kind, arguments)],
        settings=settings,
        recover=StrategyRegistry(entry_points=False).recover,
    )


def _call(is_async: bool) -> Any:
    try:
        return asyncio.run(slow_async()) if is_async else slow_sync()
    except Exception as error:  # a hang or crash raises once woken: the wake time is the point
        return error


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_waiting_call_wakes_when_its_run_finishes(case: str, is_async: bool) -> None:
    run = _run_for(case)
    woke: list[float] = []
    result: list[Any] = []

    def caller() -> None:
        result.append(_call(is_async))
        woke.append(time.monotonic())

    previous = activate(run)
    try:
        thread = threading.Thread(target=caller)
        thread.start()
        time.sleep(0.1)  # let the call reach its wait
        assert not woke, f"{case} did not wait: {result}"
        cancelled_at = time.monotonic()
        run.finish()
        thread.join(LONG_S)
    finally:
        activate(previous)
    assert woke, f"{case} ({'async' if is_async else 'sync'}) never woke"
    assert woke[0] - cancelled_at < WAKE_BOUND_S, woke[0] - cancelled_at


def test_cancelled_is_set_by_finish_whether_read_before_or_after() -> None:
    """``cancelled`` is made on first use; a run's end sets it either way, and a wait that
    starts after the end does not block."""
    read_before = ChaosRun(run_id="before", nodeid="t", seed=1)
    signal = read_before.cancelled
    assert not signal.is_set()
    read_before.finish()
    assert signal.is_set()
    assert read_before.cancelled is signal

    read_after = ChaosRun(run_id="after", nodeid="t", seed=1)
    read_after.finish()
    assert read_after.cancelled.is_set()
    assert read_after.cancelled.wait(timeout=0)
