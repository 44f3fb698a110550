"""Hardening (issue 8, engine): agent names checked when declared; a thread left running by one
test stays out of the next test's run."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_agentchaos import AgentCrashed, ChaosConfigError, agent, wrap
from pytest_agentchaos.engine.injection import activate, current_run
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault


@pytest.mark.parametrize(
    ("name", "named", "why"),
    [
        ("a\x00b", r"'a\\x00b'", "NUL"),
        ("price\ud800", r"'price\\ud800'", "lone surrogate"),
    ],
)
def test_a_bad_agent_name_is_refused_when_declared(name: str, named: str, why: str) -> None:
    with pytest.raises(ChaosConfigError, match=f"agent name {named} is not usable: .*{why}"):
        agent(name)
    module = types.ModuleType("agentchaos_names_mod")
    exec("def f():\n    return 1\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        with pytest.raises(ChaosConfigError, match=why):
            wrap(module.f, name)
    finally:
        del sys.modules[module.__name__]


def test_printable_and_non_ascii_names_are_fine() -> None:
    assert agent("定价 agent")(lambda: 1)() == 1


@agent("ticker")
def tick(n: int) -> int:
    return n


def _run(run_id: str, *faults: tuple[str, dict[str, Any]]) -> ChaosRun:
    return ChaosRun(
        run_id=run_id,
        nodeid=f"t::{run_id}",
        seed=1,
        faults=[parse_fault(kind, arguments) for kind, arguments in faults],
    )


@pytest.fixture
def leftover() -> Iterator[tuple[threading.Event, list[Any]]]:
    """Test A: a run during which a thread starts calling ``ticker`` and never stops."""
    stop = threading.Event()
    seen: list[Any] = []

    def keep_ticking() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                seen.append(tick(n))
            except AgentCrashed as error:
                seen.append(error)
            seen.append(current_run())
            time.sleep(0.002)

    run_a = _run("A")
    activate(run_a)
    thread = threading.Thread(target=keep_ticking, daemon=True)
    thread.start()
    time.sleep(0.03)
    run_a.finish()
    activate(None)
    events_of_a = len(run_a.events)
    assert any(e[1] == "ticker" for e in run_a.events)  # it did belong to A
    yield stop, seen
    stop.set()
    thread.join(5)
    assert len(run_a.events) == events_of_a  # A records nothing after its end


def test_a_thread_left_running_by_test_a_stays_out_of_test_b(
    leftover: tuple[threading.Event, list[Any]],
) -> None:
    _stop, seen = leftover
    run_b = _run("B", ("crash", {"target": "ticker"}))
    activate(run_b)
    try:
        seen.clear()
        time.sleep(0.05)  # the leftover thread keeps calling during B
        with pytest.raises(AgentCrashed):
            tick(0)  # B's own thread: B's faults fire
        started_in_b: list[Any] = []
        mine = threading.Thread(target=lambda: started_in_b.append(current_run()))
        mine.start()
        mine.join()
        with ThreadPoolExecutor(1) as pool:  # a pool worker serves whichever run is active
            assert pool.submit(current_run).result() is run_b
    finally:
        run_b.finish()
        activate(None)
    assert len(seen) > 4
    assert not any(isinstance(item, AgentCrashed) for item in seen)  # B's crash never hit it
    assert not any(item is run_b for item in seen)  # it never saw B as its run
    assert [e[1] for e in run_b.events if e[2] == "call_start"] == ["ticker"]
    assert [f.call_number for f in run_b.firings] == [1]
    assert started_in_b == [run_b]


def test_a_thread_left_running_stays_out_of_the_next_test_as_users_run_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import threading, time
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("ticker")
        def tick(n):
            return n

        CRASHES = []
        STOP = threading.Event()

        def keep_ticking():
            n = 0
            while not STOP.is_set():
                n += 1
                try:
                    tick(n)
                except AgentCrashed:
                    CRASHES.append(n)
                time.sleep(0.002)

        def test_a_leaves_a_thread(agentchaos):
            threading.Thread(target=keep_ticking, daemon=True).start()
            time.sleep(0.03)

        @pytest.mark.chaos_crash(target="ticker")
        def test_b_never_sees_it(agentchaos):
            time.sleep(0.05)
            STOP.set()
            assert agentchaos.calls("ticker") == 0
            assert agentchaos.faults() == []
            assert CRASHES == []
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
