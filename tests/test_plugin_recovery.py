"""Acceptance tests, run from outside with pytester: recovery strategies (built-in retry, a
user's strategy from conftest.py), setting precedence, and side-effecting agents.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from typing import Any

import pytest


def load(pytester: pytest.Pytester, name: str = "r.json") -> dict[str, Any]:
    return json.loads((pytester.path / name).read_text())


def fault_rows(pytester: pytest.Pytester, db: str = "s.db") -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(pytester.path / db)) as conn:
        return conn.execute(
            "SELECT runs.nodeid, faults.kind, faults.target, faults.outcome, faults.strategy,"
            " runs.strategies FROM faults JOIN runs USING (run_id) ORDER BY runs.nodeid"
        ).fetchall()


def event_kinds(pytester: pytest.Pytester, db: str = "s.db") -> list[str]:
    with closing(sqlite3.connect(pytester.path / db)) as conn:
        return [row[0] for row in conn.execute("SELECT kind FROM events ORDER BY run_id, seq")]


# ------------------------------------------------------------------------------- retry
def test_retry_recovers_a_crash(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_retry="""
        import asyncio
        import pytest
        from pytest_agentchaos import agent

        ran = []

        @agent("pricing")
        def price(n):
            ran.append(n)
            return {"price": 10.0 * n}

        @agent("async_pricing")
        async def aprice(n):
            return {"price": 10.0 * n}

        @pytest.mark.chaos_crash(target="pricing", at_call=1)
        def test_sync(agentchaos):
            assert price(2) == {"price": 20.0}
            assert ran == [2]
            assert agentchaos.calls("pricing") == 2
            agentchaos.assert_recovered("pricing", within=1.0)

        @pytest.mark.chaos_crash(target="async_pricing", at_call=1)
        def test_async(agentchaos):
            assert asyncio.run(aprice(3)) == {"price": 30.0}
            agentchaos.assert_recovered("async_pricing", within=1.0)

        @pytest.mark.chaos_settings(retry_attempts=2)
        @pytest.mark.chaos_crash(target="pricing", at_call=[1, 2, 3])
        def test_gives_up_after_retry_attempts(agentchaos):
            from pytest_agentchaos import AgentCrashed
            with pytest.raises(AgentCrashed):
                price(1)
            assert agentchaos.calls("pricing") == 3
        """
    )
    result = pytester.runpytest(
        "--chaos", "--chaos-strategy=retry", "--chaos-db=s.db", "--chaos-report=r.json"
    )
    result.assert_outcomes(passed=3)
    rows = fault_rows(pytester)
    assert rows[0][:5] == (
        "test_retry.py::test_async",
        "crash",
        "async_pricing",
        "recovered",
        "retry",
    )
    assert [r[3] for r in rows[1:4]] == ["unrecovered"] * 3
    assert rows[-1][:5] == ("test_retry.py::test_sync", "crash", "pricing", "recovered", "retry")
    assert {r[5] for r in rows} == {"retry"}
    kinds = event_kinds(pytester)
    assert kinds.count("recovery_succeeded") == 2
    assert kinds.count("recovery_failed") == 1
    report_rows = {(r["kind"], r["target"], r["strategy"]) for r in load(pytester)["rows"]}
    assert report_rows == {("crash", "pricing", "retry"), ("crash", "async_pricing", "retry")}


def test_without_a_strategy_the_plugin_only_observes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_observe="""
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("pricing")
        def price():
            return 1

        @pytest.mark.chaos_crash(target="pricing", at_call=1)
        def test_x(agentchaos):
            with pytest.raises(AgentCrashed):
                price()
            assert agentchaos.calls("pricing") == 1
        """
    )
    pytester.runpytest("--chaos", "--chaos-db=s.db").assert_outcomes(passed=1)
    assert fault_rows(pytester) == [
        ("test_observe.py::test_x", "crash", "pricing", "unrecovered", None, "none")
    ]
    assert "recovery_attempt" not in event_kinds(pytester)


# ----------------------------------------------------------------------- user strategies
USER_STRATEGIES = """
from pytest_agentchaos import hookimpl, Recovery

NAMES = ["fallback_value", "alpha", "beta", "gamma", "delta"]

@hookimpl
def agentchaos_strategies():
    return NAMES

@hookimpl
def agentchaos_recover(failure, strategy):
    if strategy not in NAMES:
        return None
    return Recovery({"price": 0.0, "by": strategy}, detail="user strategy")
"""


def test_user_strategy_from_conftest(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_STRATEGIES)
    pytester.makepyfile(
        test_user="""
        import pytest
        from pytest_agentchaos import agent

        ran = []

        @agent("pricing")
        def price():
            ran.append(1)
            return {"price": 10.0}

        @pytest.mark.chaos_crash(target="pricing", at_call=1)
        def test_x(agentchaos):
            assert price() == {"price": 0.0, "by": "fallback_value"}
            assert ran == []
            agentchaos.assert_recovered("pricing")
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-strategy=fallback_value", "--chaos-db=s.db")
    result.assert_outcomes(passed=1)
    assert fault_rows(pytester) == [
        (
            "test_user.py::test_x",
            "crash",
            "pricing",
            "recovered",
            "fallback_value",
            "fallback_value",
        )
    ]


def test_strategies_are_tried_in_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        from pytest_agentchaos import hookimpl, Recovery

        @hookimpl
        def agentchaos_strategies():
            return ["declines", "broken", "works"]

        @hookimpl
        def agentchaos_recover(failure, strategy):
            if strategy == "broken":
                raise RuntimeError("strategy bug")
            if strategy == "works":
                return Recovery("ok")
            return None
        """
    )
    pytester.makepyfile(
        test_order="""
        import pytest
        from pytest_agentchaos import agent

        @agent("a")
        def a():
            return "real"

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_x():
            assert a() == "ok"
        """
    )
    result = pytester.runpytest(
        "--chaos", "--chaos-strategy=declines,broken,works", "--chaos-db=s.db"
    )
    result.assert_outcomes(passed=1)
    assert fault_rows(pytester)[0][3:5] == ("recovered", "works")
    kinds = event_kinds(pytester)
    assert kinds.count("recovery_attempt") == 3
    assert kinds.count("recovery_error") == 1


PRECEDENCE_INI = "[pytest]\nchaos_strategy = delta\n"
PRECEDENCE_PLAIN = """
import pytest
from pytest_agentchaos import agent

@agent("pricing")
def price():
    return {"price": 10.0}

@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_ini(agentchaos):
    price()
"""
PRECEDENCE_FIXTURE = """
import pytest
from pytest_agentchaos import agent

@agent("pricing")
def price():
    return {"price": 10.0}

@pytest.fixture
def agentchaos_config():
    return {"strategy": "gamma"}

@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_fixture(agentchaos):
    price()

@pytest.mark.chaos_settings(strategy="beta")
@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_marker(agentchaos):
    price()
"""


def _strategy_by_test(pytester: pytest.Pytester) -> dict[str, str]:
    return {t["nodeid"].split("::")[1]: t["faults"][0]["strategy"] for t in load(pytester)["tests"]}


def test_precedence_marker_beats_fixture_beats_ini(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_STRATEGIES)
    pytester.makeini(PRECEDENCE_INI)
    pytester.makepyfile(test_plain=PRECEDENCE_PLAIN, test_fixture=PRECEDENCE_FIXTURE)
    result = pytester.runpytest("--chaos", "--chaos-report=r.json")
    result.assert_outcomes(passed=3)
    assert _strategy_by_test(pytester) == {
        "test_ini": "delta",
        "test_fixture": "gamma",
        "test_marker": "beta",
    }


def test_precedence_command_line_beats_everything(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(USER_STRATEGIES)
    pytester.makeini(PRECEDENCE_INI)
    pytester.makepyfile(test_plain=PRECEDENCE_PLAIN, test_fixture=PRECEDENCE_FIXTURE)
    result = pytester.runpytest("--chaos", "--chaos-strategy=alpha", "--chaos-report=r.json")
    result.assert_outcomes(passed=3)
    assert _strategy_by_test(pytester) == {
        "test_ini": "alpha",
        "test_fixture": "alpha",
        "test_marker": "alpha",
    }


CLOSEST_CONFIG = """
import pytest

@pytest.mark.chaos_crash(target="nobody")
def test_default():
    pass

class TestClass:
    @pytest.fixture
    def agentchaos_config(self):
        return {"strategy": "retry"}

    @pytest.mark.chaos_crash(target="nobody")
    def test_marker_only(self):
        pass

    @pytest.mark.parametrize("n", [1, 2])
    def test_param(self, agentchaos, n):
        pass

    def test_not_chaos(self):
        pass

@pytest.mark.parametrize("agentchaos_config", [{"strategy": "retry,checkpoint"}])
def test_direct(agentchaos, agentchaos_config):
    pass

def test_after(agentchaos):
    pass
"""
FOLDER_CONFIG = """
import pytest

@pytest.fixture
def agentchaos_config(tmp_path):
    return {"strategy": "checkpoint"}
"""


@pytest.mark.parametrize("workers", [(), ("-p", "xdist", "-n", "2")], ids=["serial", "xdist"])
def test_each_test_gets_the_agentchaos_config_closest_to_it(
    pytester: pytest.Pytester, workers: tuple[str, ...]
) -> None:
    """Overrides in a class, a folder's conftest and a direct parametrization, next to tests
    with the default: each chaos test runs with its own, markers only or with the fixture."""
    pytester.makepyfile(test_top=CLOSEST_CONFIG)
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(FOLDER_CONFIG)
    (sub / "test_sub.py").write_text(
        "def test_folder(agentchaos):\n    pass\n\ndef test_folder_plain():\n    pass\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:langsmith_plugin", "--chaos", "--chaos-db=s.db", *workers
    )
    result.assert_outcomes(passed=9)
    with closing(sqlite3.connect(pytester.path / "s.db")) as conn:
        strategies = dict(conn.execute("SELECT nodeid, strategies FROM runs").fetchall())
    assert strategies == {
        "test_top.py::test_default": "none",
        "test_top.py::TestClass::test_marker_only": "retry",
        "test_top.py::TestClass::test_param[1]": "retry",
        "test_top.py::TestClass::test_param[2]": "retry",
        "test_top.py::test_direct[agentchaos_config0]": "retry,checkpoint",
        "test_top.py::test_after": "none",
        "sub/test_sub.py::test_folder": "checkpoint",
    }


def test_unknown_strategy_in_agentchaos_config_fails_that_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_cfg="""
        import pytest

        @pytest.fixture
        def agentchaos_config():
            return {"strategy": "nonexistent"}

        @pytest.mark.chaos_crash(target="a")
        def test_x(agentchaos):
            pass
        """
    )
    result = pytester.runpytest("--chaos")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*unknown recovery strategy 'nonexistent'*"])
    assert "INTERNALERROR" not in result.stdout.str()


# ----------------------------------------------------------------------- side effects
SIDE_EFFECTS = """
import pytest
from pytest_agentchaos import agent, AgentCrashed

paid = []

@agent("payments", side_effect=True)
def pay(order):
    paid.append(order["id"])
    return {"receipt": f"r-{order['id']}"}

@pytest.mark.chaos_crash(target="payments", when="after", at_call=1)
def test_retry_gets_the_recorded_result(agentchaos):
    paid.clear()
    assert pay({"id": 7}) == {"receipt": "r-7"}
    assert paid == [7]
    assert agentchaos.calls("payments") == 2
    assert len(agentchaos.events("effect_replayed")) == 1
    agentchaos.assert_recovered("payments")
"""


def test_side_effect_agent_runs_once_across_crash_and_retry(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_pay=SIDE_EFFECTS)
    result = pytester.runpytest("--chaos", "--chaos-strategy=retry", "--chaos-db=s.db")
    result.assert_outcomes(passed=1)
    assert fault_rows(pytester) == [
        (
            "test_pay.py::test_retry_gets_the_recorded_result",
            "crash",
            "payments",
            "recovered",
            "retry",
            "retry",
        )
    ]


def test_side_effect_key_is_the_arguments_and_scoped_to_one_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_pay="""
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        paid = []

        @agent("payments", side_effect=True)
        def pay(order):
            paid.append(order["id"])
            return {"receipt": f"r-{order['id']}"}

        @agent("refunds", side_effect=True, key="once")
        def refund(order):
            paid.append(-order["id"])
            return "refunded"

        @pytest.mark.chaos_crash(target="payments", when="after", at_call=1)
        def test_1_system_retries_by_itself(agentchaos):
            with pytest.raises(AgentCrashed):
                pay({"id": 7})
            assert paid == [7]
            assert pay({"id": 7}) == {"receipt": "r-7"}
            assert paid == [7]
            assert pay({"id": 8}) == {"receipt": "r-8"}
            assert paid == [7, 8]
            assert refund({"id": 7}) == refund({"id": 8}) == "refunded"
            assert paid == [7, 8, -7]
            agentchaos.assert_recovered("payments")

        @pytest.mark.chaos_crash(target="nobody")
        def test_2_next_run_pays_again():
            assert pay({"id": 7}) == {"receipt": "r-7"}
            assert paid == [7, 8, -7, 7]
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    assert [r[3] for r in fault_rows(pytester)] == ["recovered"]


def test_side_effect_agent_is_plain_without_chaos(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_pay="""
        from pytest_agentchaos import agent

        paid = []

        @agent("payments", side_effect=True)
        def pay(order):
            paid.append(order["id"])
            return order["id"]

        def test_x():
            pay({"id": 1})
            pay({"id": 1})
            assert paid == [1, 1]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_async_side_effect_agent_and_crash_before_run_once_with_retry(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_pay="""
        import asyncio
        import pytest
        from pytest_agentchaos import agent

        paid = []

        @agent("payments", side_effect=True)
        async def pay(order):
            paid.append(order["id"])
            return {"receipt": order["id"]}

        @agent("ledger", side_effect=True)
        def book(entry):
            paid.append(entry)
            return "booked"

        @pytest.mark.chaos_crash(target="payments", when="after", at_call=1)
        def test_async_after(agentchaos):
            paid.clear()
            assert asyncio.run(pay({"id": 1})) == {"receipt": 1}
            assert paid == [1]
            agentchaos.assert_recovered("payments")

        @pytest.mark.chaos_crash(target="ledger", at_call=1)
        def test_sync_before(agentchaos):
            paid.clear()
            assert book("e1") == "booked"
            assert paid == ["e1"]
            agentchaos.assert_recovered("ledger")
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-strategy=retry", "--chaos-db=s.db")
    result.assert_outcomes(passed=2)
    assert [r[3:5] for r in fault_rows(pytester)] == [("recovered", "retry")] * 2


def test_assert_recovered_within_fails_a_slow_recovery(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow="""
        import time
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_x(agentchaos):
            with pytest.raises(AgentCrashed):
                a()
            time.sleep(0.05)
            a()
            agentchaos.assert_recovered("a", within=5.0)
            agentchaos.assert_recovered("a", within=0.01)

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_nothing_fired_at_target(agentchaos):
            with pytest.raises(AgentCrashed):
                a()
            agentchaos.assert_recovered("b")
        """
    )
    result = pytester.runpytest("--chaos")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*chaos: crash at 'a' recovered in 0.0* s, over the 0.01 s allowed*",
            "*chaos: no fault that needed recovery fired at 'b' (faults fired at: a)*",
        ]
    )
