"""The agentchaos_bus fixture and chaos_bus marker as users run them (pytester)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

NO_SLOW_PLUGINS = ("-p", "no:langsmith_plugin")  # a plugin of another package, slow to start

# A small team of agents on the bus, one test per message fault kind, and a noisy test whose
# faults fire by probability (so its schedule depends on the seed).
SWARM = """
import time

import pytest

from pytest_agentchaos.bus import DeliveryTimeout
from pytest_agentchaos.protocol import Message


def team(bus):
    got = {name: [] for name in ("listing", "pricing", "marketing")}

    def agent(name):
        def handle(message):
            got[name].append(message.body.parameters.get("n"))
            if name == "pricing":
                return {"price": message.body.parameters["cost"] * 2}
            return None

        return handle

    for name in got:
        bus.register(name, agent(name))
    return got


def ask(bus, n=0, timeout=0.03):
    task = Message.create("TASK_ASSIGN", "listing", "pricing", parameters={"cost": 5, "n": n})
    return bus.request(task, timeout=timeout)


def ask_again(bus, **options):
    # The system's own handling: one retry after a timeout.
    try:
        return ask(bus, **options)
    except DeliveryTimeout:
        return ask(bus, **options)


@pytest.mark.chaos_message_drop(sender="listing", receiver="pricing", times=1)
def test_drop(agentchaos_bus):
    team(agentchaos_bus)
    assert ask_again(agentchaos_bus).body.parameters == {"price": 10}


@pytest.mark.chaos_message_delay(receiver="pricing", seconds=0.01, times=1)
def test_delay(agentchaos_bus):
    team(agentchaos_bus)
    assert ask(agentchaos_bus, timeout=0.5).body.parameters == {"price": 10}


@pytest.mark.chaos_message_corrupt(receiver="pricing", field="cost", times=1)
def test_corrupt(agentchaos_bus):
    team(agentchaos_bus)
    assert ask_again(agentchaos_bus).body.parameters == {"price": 10}


@pytest.mark.chaos_message_duplicate(receiver="pricing", times=1)
def test_duplicate(agentchaos_bus):
    got = team(agentchaos_bus)
    ask(agentchaos_bus, n=1)
    assert got["pricing"] == [1, 1]


@pytest.mark.chaos_message_reorder(receiver="marketing", times=1)
def test_reorder(agentchaos_bus):
    got = team(agentchaos_bus)
    for n in (1, 2):
        note = Message.create("TASK_ASSIGN", "listing", "marketing", parameters={"n": n})
        agentchaos_bus.send(note)
    assert got["marketing"] == [2, 1]


@pytest.mark.chaos_partition(target="pricing", duration=0.05, times=1)
def test_partition(agentchaos_bus):
    team(agentchaos_bus)
    with pytest.raises(DeliveryTimeout):
        ask(agentchaos_bus, timeout=0.01)
    time.sleep(0.06)
    assert ask(agentchaos_bus).body.parameters == {"price": 10}


@pytest.mark.chaos_wrong_handoff(sender="listing", receiver="pricing", to="marketing", times=1)
def test_wrong_handoff(agentchaos_bus):
    got = team(agentchaos_bus)
    assert ask_again(agentchaos_bus, n=1).body.parameters == {"price": 10}
    assert got["marketing"] == [1]


@pytest.mark.chaos_message_drop(probability=0.2)
@pytest.mark.chaos_message_corrupt(probability=0.2)
@pytest.mark.chaos_message_duplicate(probability=0.2)
@pytest.mark.chaos_wrong_handoff(sender="listing", probability=0.2)
def test_noisy(agentchaos_bus):
    team(agentchaos_bus)
    for n in range(16):
        try:
            ask(agentchaos_bus, n=n, timeout=0.01)
        except DeliveryTimeout:
            pass
"""

EXPECTED = {
    "test_drop": [("message_drop", "listing->pricing", "recovered")],
    "test_delay": [("message_delay", "listing->pricing", "tolerated")],
    "test_corrupt": [("message_corrupt", "listing->pricing", "recovered")],
    "test_duplicate": [("message_duplicate", "listing->pricing", "tolerated")],
    "test_reorder": [("message_reorder", "listing->marketing", "tolerated")],
    "test_partition": [("partition", "pricing", "recovered")],
    "test_wrong_handoff": [("wrong_handoff", "listing->pricing", "recovered")],
}


def chaos_report(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> Any:
    report = pytester.path / f"report{len(list(pytester.path.glob('report*.json')))}.json"
    run = pytester.runpytest_subprocess if subprocess else pytester.runpytest
    result = run("--chaos", f"--chaos-report={report}", *args)
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    return json.loads(report.read_text())


def schedule(report: Any) -> dict[str, list[tuple[str, str, str]]]:
    """Every test's message faults: (kind, target, outcome), by test name."""
    return {
        test["nodeid"].split("::")[-1]: sorted(
            (f["kind"], f["target"], f["outcome"]) for f in test["faults"]
        )
        for test in report["tests"]
    }


def test_each_message_fault_acts_and_ends_as_expected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_swarm=SWARM)
    report = chaos_report(pytester, "--chaos-seed=3")
    found = schedule(report)
    for name, faults in EXPECTED.items():
        assert found[name] == faults, name
    assert found["test_noisy"], "the noisy test fired no fault"
    assert report["totals"]["silent"] == 0


def test_same_seed_same_schedule_also_under_xdist(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_swarm=SWARM)
    first = schedule(chaos_report(pytester, "--chaos-seed=11"))
    again = schedule(chaos_report(pytester, "--chaos-seed=11"))
    other = schedule(chaos_report(pytester, "--chaos-seed=12"))
    parallel = schedule(
        chaos_report(
            pytester, "--chaos-seed=11", "-p", "xdist", "-n", "2", *NO_SLOW_PLUGINS, subprocess=True
        )
    )
    assert len(first) == 8
    assert first == again == parallel
    assert first["test_noisy"] != other["test_noisy"]


def test_at_least_once_buys_recovery_of_drops(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos.bus import DeliveryTimeout
        from pytest_agentchaos.protocol import Message

        def ask(bus):
            bus.register("pricing", lambda message: {"price": 10})
            task = Message.create("TASK_ASSIGN", "listing", "pricing")
            return bus.request(task, timeout=0.05)

        @pytest.mark.chaos_message_drop(sender="listing", times=1)
        def test_at_most_once(agentchaos_bus):
            with pytest.raises(DeliveryTimeout, match="message_drop"):
                ask(agentchaos_bus)

        @pytest.mark.chaos_bus(delivery="at_least_once", ack_timeout=0.01)
        @pytest.mark.chaos_message_drop(sender="listing", times=1)
        def test_at_least_once(agentchaos_bus):
            assert ask(agentchaos_bus).body.parameters == {"price": 10}
        """
    )
    found = schedule(chaos_report(pytester, "--chaos-seed=1"))
    assert found == {
        "test_at_most_once": [("message_drop", "listing->pricing", "unrecovered")],
        "test_at_least_once": [("message_drop", "listing->pricing", "recovered")],
    }


def test_corruption_is_silent_without_validation(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos.protocol import Message

        pytestmark = pytest.mark.chaos_message_corrupt(receiver="pricing", field="cost", times=1)

        def price(bus):
            bus.register("pricing", lambda m: {"price": m.body.parameters["cost"] * 2})
            task = Message.create("TASK_ASSIGN", "listing", "pricing", parameters={"cost": 5})
            return bus.request(task, timeout=0.05).body.parameters["price"]

        @pytest.mark.chaos_bus(validate=False)
        def test_unvalidated(agentchaos_bus):
            assert price(agentchaos_bus) != 10  # a wrong price, accepted
        """
    )
    assert schedule(chaos_report(pytester, "--chaos-seed=1")) == {
        "test_unvalidated": [("message_corrupt", "listing->pricing", "silent")]
    }


def test_sends_deliveries_drops_and_redeliveries_are_stored(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos.protocol import ContractViolation, Message

        @pytest.mark.chaos_bus(delivery="at_least_once", ack_timeout=0.01)
        @pytest.mark.chaos_message_drop(receiver="pricing", times=1)
        def test_talk(agentchaos_bus):
            agentchaos_bus.register("pricing", lambda message: None)
            agentchaos_bus.send(Message.create("HEARTBEAT", "listing", "pricing"))
            with pytest.raises(ContractViolation, match="unknown message type 'PING'"):
                agentchaos_bus.send({"header": {"type": "PING"}, "body": {}})

        @pytest.mark.chaos_message_delay(receiver="marketing", seconds=5)
        def test_unfinished(agentchaos_bus):
            agentchaos_bus.register("marketing", lambda message: None)
            agentchaos_bus.send(Message.create("HEARTBEAT", "listing", "marketing"))
        """
    )
    chaos_report(pytester, "--chaos-seed=1", "--chaos-db=events.db")
    with sqlite3.connect(pytester.path / "events.db") as db:
        rows = db.execute(
            "SELECT nodeid, kind, agent, payload FROM events JOIN runs USING (run_id)"
            " WHERE kind LIKE 'message%' ORDER BY nodeid, seq"
        ).fetchall()
    assert [(test.split("::")[1], kind, agent) for test, kind, agent, _ in rows] == [
        ("test_talk", "message_sent", "listing"),
        ("test_talk", "message_dropped", "listing"),
        ("test_talk", "message_redelivered", "listing"),
        ("test_talk", "message_delivered", "pricing"),
        ("test_talk", "message_rejected", "?"),
        ("test_unfinished", "message_sent", "listing"),
        ("test_unfinished", "message_delayed", "listing"),
        ("test_unfinished", "message_discarded", "listing"),  # the fixture closed the bus
    ]
    rejected = json.loads(rows[4][3])
    assert rejected["at"] == "send"
    assert "missing field(s): header.sender" in rejected["reason"]


def test_a_fault_naming_an_absent_agent_is_reported_as_never_fired(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos.protocol import Message

        @pytest.mark.chaos_message_drop(sender="ghost", receiver="pricing")
        def test_talk(agentchaos_bus):
            got = []
            agentchaos_bus.register("pricing", got.append)
            agentchaos_bus.send(Message.create("HEARTBEAT", "listing", "pricing"))
            assert len(got) == 1
        """
    )
    report = chaos_report(pytester, "--chaos-seed=1")
    assert report["totals"]["injected"] == 0
    assert any(
        "chaos_message_drop(sender='ghost', receiver='pricing') never fired" in w
        for w in report["warnings"]
    ), report["warnings"]


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "chaos_bus(delivery='exactly_once')",
            "chaos_bus: argument delivery='exactly_once': must be one of "
            "'at_most_once', 'at_least_once'",
        ),
        (
            "chaos_bus(ack_timeout=-1)",
            "chaos_bus: argument ack_timeout=-1: must be a number of seconds > 0",
        ),
        ("chaos_bus(retries=2)", "chaos_bus: unknown argument 'retries'; allowed arguments:"),
        ("chaos_bus('at_least_once')", "chaos_bus takes keyword arguments only"),
    ],
)
def test_bad_chaos_bus_marker_stops_the_session(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_talk(agentchaos_bus):
            pass
        """
    )
    result = pytester.runpytest("--chaos")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*bad chaos_bus marker arguments:*"])
    assert f"test_bad_chaos_bus_marker_stops_the_session.py::test_talk: {message}" in (
        result.stderr.str()
    )


def test_marker_closest_to_the_test_wins_and_is_listed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.chaos_bus(delivery="at_least_once", ack_timeout=0.02)

        def test_module_options(agentchaos_bus):
            assert (agentchaos_bus.delivery, agentchaos_bus.ack_timeout) == ("at_least_once", 0.02)

        @pytest.mark.chaos_bus(delivery="at_most_once", max_redeliveries=0)
        def test_own_options(agentchaos_bus):
            assert agentchaos_bus.delivery == "at_most_once"
            assert agentchaos_bus.ack_timeout == 0.02
            assert agentchaos_bus.max_redeliveries == 0
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)
    pytester.runpytest("--markers").stdout.fnmatch_lines(
        ["@pytest.mark.chaos_bus(delivery, ack_timeout, max_redeliveries, validate):*"]
    )


def test_without_chaos_the_bus_only_delivers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from pytest_agentchaos.protocol import Message

        @pytest.mark.chaos_message_drop()
        def test_talk(agentchaos_bus):
            async def pricing(message):
                return {"price": 10}

            agentchaos_bus.register("pricing", pricing)
            task = Message.create("TASK_ASSIGN", "listing", "pricing")
            reply = asyncio.run(agentchaos_bus.arequest(task, timeout=0.05))
            assert reply.body.parameters == {"price": 10}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)
    assert not Path(pytester.path / ".agentchaos").exists()
