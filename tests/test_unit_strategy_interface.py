"""The narrow public API and the stable strategy interface: a strategy sees a ``Failure``
(a Protocol of what it needs), never the engine."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

import pytest_agentchaos
from pytest_agentchaos import Failure, Recovery
from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.injection import activate, agent
from pytest_agentchaos.engine.recovery import ReadOnlyStore
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.model.records import Event


@pytest.mark.parametrize(
    ("name", "module"),
    [
        ("ChaosRun", "pytest_agentchaos.engine.run"),
        ("RunSettings", "pytest_agentchaos.config.settings"),
        ("current_run", "pytest_agentchaos.engine.injection"),
    ],
)
def test_engine_names_left_the_public_api_but_stay_importable(name: str, module: str) -> None:
    assert name not in pytest_agentchaos.__all__
    assert hasattr(importlib.import_module(module), name)


def test_what_users_import_is_public() -> None:
    for name in (
        "agent",
        "wrap",
        "Patch",
        "FaultSpec",
        "parse_fault",
        "FAULT_KINDS",
        "hookimpl",
        "Failure",
        "Recovery",
        "ChaosController",
        "Event",
        "FaultResult",
        "Outcome",
        "AgentCrashed",
        "MessageBus",
        "Message",
    ):
        assert name in pytest_agentchaos.__all__, name
        assert getattr(pytest_agentchaos, name) is not None


@agent("weather")
def forecast(city: str, *, unit: str = "C") -> dict[str, Any]:
    return {"city": city, "unit": unit}


@agent("weather")
async def aforecast(city: str, *, unit: str = "C") -> dict[str, Any]:
    return {"city": city, "unit": unit}


class FakeStore:
    def runs(self, session_id: str | None = None) -> list[str]:
        return ["earlier run"]

    def write_run(self, *args: Any) -> None:  # pragma: no cover - must never be reached
        raise AssertionError("a strategy wrote to the store")


def _run_with(strategy: Any) -> ChaosRun:
    return ChaosRun(
        run_id="r",
        nodeid="t",
        seed=1,
        faults=[parse_fault("crash", {"target": "weather", "at_call": 1})],
        settings=RunSettings(strategies=("probe",)),
        recover=strategy,
        store=ReadOnlyStore(FakeStore),
    )


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_strategy_sees_the_failure_and_nothing_of_the_engine(is_async: bool) -> None:
    seen: dict[str, Any] = {}

    def probe(failure: Failure, strategy: str) -> Any:
        seen.update(
            agent=failure.agent,
            args=failure.args,
            kwargs=dict(failure.kwargs),
            fault=failure.fault.kind if failure.fault else None,
            fault_id=failure.fault_id,
            call_number=failure.call_number,
            is_async=failure.is_async,
            kinds=[event.kind for event in failure.events],
            last=failure.events[-1],
            runs=failure.store.runs() if failure.store else None,
            retry_attempts=failure.settings.retry_attempts,
            cancelled=failure.cancelled.is_set(),
        )
        assert not hasattr(failure, "run")
        assert failure.store is not None
        with pytest.raises(AttributeError, match="read-only: 'write_run'"):
            failure.store.write_run()
        failure.record("probe_looked", {"n": 1})
        again = failure.call_again()
        if failure.is_async:

            async def finish() -> Recovery:
                return Recovery(await again, detail="again")

            return finish()
        return Recovery(again, detail="again")

    run = _run_with(probe)
    previous = activate(run)
    try:
        value = asyncio.run(aforecast("Oslo", unit="F")) if is_async else forecast("Oslo", unit="F")
    finally:
        activate(previous)
    assert value == {"city": "Oslo", "unit": "F"}
    assert seen["agent"] == "weather"
    assert seen["args"] == ("Oslo",)
    assert seen["kwargs"] == {"unit": "F"}
    assert (seen["fault"], seen["fault_id"], seen["call_number"]) == ("crash", "r#1", 1)
    assert seen["is_async"] is is_async
    assert seen["kinds"][:3] == ["call_start", "fault_injected", "call_error"]
    assert isinstance(seen["last"], Event)
    assert seen["last"].kind == "recovery_attempt"
    assert seen["runs"] == ["earlier run"]
    assert seen["retry_attempts"] == 3
    assert seen["cancelled"] is False
    looked = [e for e in run.events if e[2] == "probe_looked"]
    assert looked
    assert looked[0][1:] == ("weather", "probe_looked", "r#1", {"n": 1})
    [result] = run.finish()
    assert result.outcome.value == "recovered"
    assert result.strategy == "probe"


def test_the_events_view_is_live_and_read_only() -> None:
    run = ChaosRun(run_id="r", nodeid="t", seed=1)
    captured: list[Any] = []

    def keep(failure: Failure, strategy: str) -> None:
        captured.append(failure.events)

    run.settings = RunSettings(strategies=("keep",))
    run.strategies.hook = keep

    @agent("bad")
    def bad() -> None:
        raise ValueError("no")

    previous = activate(run)
    try:
        with pytest.raises(ValueError):
            bad()
    finally:
        activate(previous)
    [view] = captured
    before = len(view)
    run.record("x", "later")
    assert len(view) == before + 1
    assert view[-1].kind == "later"
    assert [e.seq for e in view[:2]] == [0, 1]
    assert not hasattr(view, "append")
