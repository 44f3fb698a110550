"""The events a message bus records in a chaos run where no fault acts: exactly which, in which
order, stamped in time order (also when several threads publish at once).

The bus records a delivery's events cheaply when nothing can act on it; these tests pin what it
records to what it always recorded: every event written out by hand, not derived from the bus.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_agentchaos.bus import MESSAGE_FAULT_KINDS, MessageBus
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import FaultSpec, parse_fault
from pytest_agentchaos.protocol import Message

Event = tuple[str, str, str | None, Any]


def no_fault() -> list[FaultSpec]:
    return []


def every_kind_at_p0() -> list[FaultSpec]:
    return [parse_fault(kind, {"probability": 0}) for kind in sorted(MESSAGE_FAULT_KINDS)]


#: A run with no fault, and one with every message fault armed where it can never fire: the bus
#: records the same events for both.
QUIET = {"no fault": no_fault, "every message fault at p=0": every_kind_at_p0}


@pytest.fixture(params=sorted(QUIET))
def run(request: pytest.FixtureRequest) -> Iterator[ChaosRun]:
    faults: Callable[[], list[FaultSpec]] = QUIET[request.param]
    chaos = ChaosRun(run_id="run", nodeid="tests/x.py::t", seed=3, faults=faults())
    activate(chaos)
    yield chaos
    activate(None)
    chaos.cancelled.set()


def logged(run: ChaosRun) -> list[Event]:
    """The run's events without their timestamps, after checking those are in log order."""
    stamps = [event[0] for event in run.events]
    assert stamps == sorted(stamps), "events are out of time order"
    return [(agent, kind, fault_id, payload) for _, agent, kind, fault_id, payload in run.events]


def facts(message: Message, receiver: str, topic: str | None = None) -> dict[str, object]:
    header = message.header
    said: dict[str, object] = {
        "id": header.message_id,
        "type": header.type.value,
        "sender": header.sender,
        "receiver": receiver,
    }
    if topic is not None:
        said["topic"] = topic
    return said


def sent(message: Message, receiver: str, topic: str | None = None) -> Event:
    return (message.header.sender, "message_sent", None, facts(message, receiver, topic))


def delivered(message: Message, receiver: str, topic: str | None = None) -> Event:
    return (receiver, "message_delivered", None, {**facts(message, receiver, topic), "attempt": 0})


def announce(run: ChaosRun, name: str) -> Callable[[Message], None]:
    """A handler that records an event of its own: it must sit between its delivery and the
    next receiver's."""

    def handle(message: Message) -> None:
        run.record(name, "handled", None, message.header.message_id)

    return handle


@pytest.mark.parametrize("delivery", ["at_most_once", "at_least_once"])
def test_a_publish_records_each_delivery_then_what_its_handler_records(
    run: ChaosRun, delivery: str
) -> None:
    message = Message.create("TASK_ASSIGN", "a", "t", task="work", parameters={"n": 1})
    with MessageBus(delivery=delivery) as bus:
        for name in ("a", "s0", "s1", "s2"):
            bus.subscribe("t", name, announce(run, name))
        assert bus.publish("t", message) == 3
    expected: list[Event] = []
    for name in ("s0", "s1", "s2"):
        handled = (name, "handled", None, message.header.message_id)
        expected += [sent(message, name, "t"), delivered(message, name, "t"), handled]
    assert logged(run) == expected
    assert run.firings == []


def test_a_subscriber_gone_mid_publish_is_a_drop_after_its_send(run: ChaosRun) -> None:
    message = Message.create("TASK_ASSIGN", "a", "t", task="work", parameters={})
    with MessageBus() as bus:
        got: list[str] = []
        bus.subscribe("t", "s0", lambda _: bus.unregister("s1"))
        bus.subscribe("t", "s1", lambda m: got.append("s1"))
        bus.subscribe("t", "s2", lambda m: got.append("s2"))
        assert bus.publish("t", message) == 3
    reason = "no agent is registered as 's1'"
    dropped = ("a", "message_dropped", None, {**facts(message, "s1", "t"), "reason": reason})
    assert got == ["s2"]
    assert logged(run) == [
        sent(message, "s0", "t"),
        delivered(message, "s0", "t"),
        sent(message, "s1", "t"),
        dropped,
        sent(message, "s2", "t"),
        delivered(message, "s2", "t"),
    ]


def test_a_request_records_its_message_and_its_reply(run: ChaosRun) -> None:
    with MessageBus() as bus:
        bus.register("b", lambda message: {"price": 3})
        request = Message.create("TASK_ASSIGN", "a", "b", task="work", parameters={})
        reply = bus.request(request, timeout=1.0)
    assert logged(run) == [
        sent(request, "b"),
        delivered(request, "b"),
        sent(reply, "a"),
        delivered(reply, "a"),
    ]


def test_threads_publishing_at_once_record_every_event_in_time_order(run: ChaosRun) -> None:
    threads, publishes, subscribers = 4, 50, 5
    with MessageBus() as bus:
        for number in range(subscribers):
            bus.subscribe("t", f"s{number}", lambda message: None)
        start = threading.Barrier(threads)

        def publisher(name: str) -> None:
            start.wait()
            for _ in range(publishes):
                message = Message.create("TASK_ASSIGN", name, "t", task="w", parameters={})
                bus.publish("t", message)

        workers = [threading.Thread(target=publisher, args=(f"p{n}",)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    events = logged(run)  # checks the time order of the whole log
    per_kind = {kind: sum(1 for _, k, _, _ in events if k == kind) for _, kind, _, _ in events}
    assert per_kind == {
        "message_sent": threads * publishes * subscribers,
        "message_delivered": threads * publishes * subscribers,
    }
    for name in (f"p{n}" for n in range(threads)):  # each publisher's own events, in its order
        mine = [(kind, p["id"], p["receiver"]) for _, kind, _, p in events if p["sender"] == name]
        assert len(mine) == 2 * publishes * subscribers
        pairs = list(zip(mine[::2], mine[1::2], strict=True))
        assert all(s[0] == "message_sent" and d[0] == "message_delivered" for s, d in pairs)
        assert all(s[1:] == d[1:] for s, d in pairs)


def test_a_delivery_record_reads_as_its_two_events_and_nothing_once_the_run_ended() -> None:
    chaos = ChaosRun(run_id="run", nodeid="tests/x.py::t", seed=3)
    chaos.record("a", "first")
    chaos.record_delivery("lead", "pricing", "m-1", "TASK_ASSIGN", None)
    chaos.record_delivery("lead", "audit", "m-2", "STATUS", "orders")
    chaos.finish()
    chaos.record_delivery("lead", "late", "m-3", "STATUS", None)
    m1 = {"id": "m-1", "type": "TASK_ASSIGN", "sender": "lead", "receiver": "pricing"}
    m2 = {"id": "m-2", "type": "STATUS", "sender": "lead", "receiver": "audit", "topic": "orders"}
    assert logged(chaos) == [
        ("a", "first", None, None),
        ("lead", "message_sent", None, m1),
        ("pricing", "message_delivered", None, {**m1, "attempt": 0}),
        ("lead", "message_sent", None, m2),
        ("audit", "message_delivered", None, {**m2, "attempt": 0}),
    ]
    assert len(chaos.log) == 3
