"""Unit tests for the message bus (pytest_agentchaos.bus), driven by a ChaosRun directly."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pytest_agentchaos.bus import (
    BusError,
    DeliveryError,
    DeliveryTimeout,
    MessageBus,
    check_bus_options,
)
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import FaultSpec, parse_fault
from pytest_agentchaos.protocol import ContractViolation, Message, MessageType

StartRun = Callable[..., ChaosRun]


def fault(kind: str, **arguments: Any) -> FaultSpec:
    return parse_fault(kind, arguments)


def msg(
    sender: str = "a", receiver: str = "b", type: str = "TASK_ASSIGN", **parameters: Any
) -> Message:
    return Message.create(type, sender, receiver, task="work", parameters=parameters)


@pytest.fixture
def start_run() -> Iterator[StartRun]:
    runs: list[ChaosRun] = []

    def start(*faults: FaultSpec, seed: int = 7, run_id: str = "run") -> ChaosRun:
        run = ChaosRun(run_id=run_id, nodeid="tests/x.py::t", seed=seed, faults=faults)
        activate(run)
        runs.append(run)
        return run

    yield start
    activate(None)
    for run in runs:
        run.cancelled.set()


@pytest.fixture
def bus() -> Iterator[MessageBus]:
    with MessageBus() as bus:
        yield bus


class Inbox:
    """A handler that keeps what it got and replies with ``reply`` (parameters)."""

    def __init__(self, reply: Any = None) -> None:
        self.got: list[Message] = []
        self.threads: list[threading.Thread] = []
        self.reply = reply

    def __call__(self, message: Message) -> Any:
        self.got.append(message)
        self.threads.append(threading.current_thread())
        return self.reply

    @property
    def ids(self) -> list[str]:
        return [m.header.message_id for m in self.got]


def outcomes(run: ChaosRun) -> list[tuple[str, str, str]]:
    return [(r.kind, r.target, r.outcome.value) for r in run.finish()]


def kinds(run: ChaosRun, prefix: str = "message_") -> list[str]:
    return [kind for _, _, kind, _, _ in run.events if kind.startswith(prefix)]


def events_of(run: ChaosRun, kind: str) -> list[tuple[str, str | None, Any]]:
    return [(agent, fid, payload) for _, agent, k, fid, payload in run.events if k == kind]


# ------------------------------------------------------------------- plain delivery
def test_without_a_run_the_bus_only_delivers(bus: MessageBus) -> None:
    inbox = Inbox(reply={"price": 42})
    bus.register("b", inbox)
    request = msg(price=40)
    bus.send(request)
    reply = bus.request(msg(), timeout=0.1)
    assert inbox.got[0].header.message_id == request.header.message_id
    assert inbox.threads == [threading.current_thread()] * 2  # delivered in the caller's thread
    assert reply.header.type is MessageType.TASK_COMPLETE
    assert (reply.header.sender, reply.header.receiver) == ("b", "a")
    assert reply.header.correlation_id == inbox.got[1].header.message_id
    assert reply.body.parameters == {"price": 42}


def test_send_and_delivery_are_events(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run()
    bus.register("b", Inbox())
    sent = msg()
    bus.send(sent)
    assert kinds(run) == ["message_sent", "message_delivered"]
    (agent, _, payload), *_ = events_of(run, "message_delivered")
    assert agent == "b"
    assert payload["id"] == sent.header.message_id
    assert payload["sender"] == "a"
    assert run.firings == []


def test_replies_route_back_to_a_registered_sender(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run()
    sender = Inbox()
    bus.register("a", sender)
    bus.register("b", Inbox(reply={"done": True}))
    bus.send(msg())
    assert [m.body.parameters for m in sender.got] == [{"done": True}]
    assert kinds(run).count("message_delivered") == 2


# ------------------------------------------------------------------------------ drops
def test_drop_makes_a_request_time_out_and_stay_unrecovered(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_drop", sender="a", receiver="b", at_call=1))
    inbox = Inbox(reply={})
    bus.register("b", inbox)
    with pytest.raises(DeliveryTimeout, match="message_drop") as caught:
        bus.request(msg(), timeout=0.02)
    assert caught.value.fault_id == run.firings[0].fault_id
    assert isinstance(caught.value, TimeoutError)
    assert inbox.got == []
    assert "message_dropped" in kinds(run)
    assert "request_timeout" in kinds(run, "request_")
    assert outcomes(run) == [("message_drop", "a->b", "unrecovered")]


def test_drop_then_resend_on_the_same_link_is_recovered(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_drop", sender="a", receiver="b", at_call=1))
    bus.register("b", Inbox(reply={}))
    with pytest.raises(DeliveryTimeout):
        bus.request(msg(), timeout=0.02)
    bus.request(msg(), timeout=0.1)
    (result,) = run.finish()
    assert result.outcome.value == "recovered"
    assert result.mttr_s is not None
    assert result.mttr_s >= 0


def test_unnoticed_drop_is_tolerated(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("message_drop", at_call=1))
    inbox = Inbox()
    bus.register("b", inbox)
    bus.send(msg())
    assert inbox.got == []
    assert outcomes(run) == [("message_drop", "a->b", "tolerated")]


def test_at_least_once_redelivers_a_dropped_message(start_run: StartRun) -> None:
    run = start_run(fault("message_drop", sender="a", receiver="b", at_call=1))
    inbox = Inbox()
    with MessageBus(delivery="at_least_once", ack_timeout=0.01) as bus:
        bus.register("b", inbox)
        sent = msg()
        bus.send(sent)
    assert inbox.ids == [sent.header.message_id]
    assert kinds(run) == [
        "message_sent",
        "message_dropped",
        "message_redelivered",
        "message_delivered",
    ]
    assert outcomes(run) == [("message_drop", "a->b", "recovered")]


def test_at_least_once_gives_up_after_max_redeliveries(start_run: StartRun) -> None:
    run = start_run(fault("message_drop"))
    inbox = Inbox()
    with MessageBus(delivery="at_least_once", ack_timeout=0.005, max_redeliveries=2) as bus:
        bus.register("b", inbox)
        bus.send(msg())
    assert inbox.got == []
    assert kinds(run).count("message_dropped") == 3
    assert kinds(run).count("message_redelivered") == 2
    assert kinds(run)[-1] == "message_undelivered"
    assert {o for _, _, o in outcomes(run)} == {"unrecovered"}


def test_at_least_once_redelivers_after_a_handler_error(start_run: StartRun) -> None:
    run = start_run()
    calls: list[int] = []

    def flaky(message: Message) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("busy")
        return {"n": len(calls)}

    with MessageBus(delivery="at_least_once", ack_timeout=0.005) as bus:
        bus.register("b", flaky)
        reply = bus.request(msg(), timeout=0.2)
    assert reply.body.parameters == {"n": 2}
    assert "message_failed" in kinds(run)
    assert "message_redelivered" in kinds(run)


def test_handler_error_fails_a_request_at_once(bus: MessageBus) -> None:
    def broken(message: Message) -> None:
        raise ValueError("no stock")

    bus.register("b", broken)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"'b' failed handling TASK_ASSIGN .*no stock"):
        bus.request(msg(), timeout=1.0)
    assert time.monotonic() - started < 0.5
    bus.send(msg())  # a plain send does not raise the receiver's error into the sender


# ------------------------------------------------------------------------------ delays
def test_delay_delivers_later_on_another_thread(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("message_delay", seconds=0.02))
    inbox = Inbox()
    bus.register("b", inbox)
    bus.send(msg())
    assert inbox.got == []
    assert bus.pending == 1
    assert bus.drain(1.0)
    assert len(inbox.got) == 1
    assert inbox.threads[0] is not threading.current_thread()
    assert outcomes(run) == [("message_delay", "a->b", "tolerated")]


def test_delay_past_the_request_timeout_surfaces(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("message_delay", sender="a", seconds=0.05))
    bus.register("b", Inbox(reply={}))
    with pytest.raises(DeliveryTimeout, match="message_delay"):
        bus.request(msg(), timeout=0.01)
    (firing,) = run.firings
    assert firing.detected_ns is not None
    assert bus.drain(1.0)
    # The late message did get through on its link: that is the recovery; its reply found no
    # one waiting any more.
    assert "reply_unclaimed" in kinds(run, "reply_")
    assert outcomes(run) == [("message_delay", "a->b", "recovered")]


# -------------------------------------------------------------------------- corruption
def test_corruption_is_caught_by_the_receivers_contract_check(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_corrupt", receiver="b", at_call=1))
    inbox = Inbox(reply={"ok": True})
    bus.register("b", inbox)
    with pytest.raises(DeliveryTimeout, match="message_corrupt"):
        bus.request(msg(price=10, sku="A-1"), timeout=0.02)
    assert inbox.got == []
    ((agent, fault_id, payload),) = events_of(run, "message_rejected")
    assert agent == "b"
    assert fault_id == run.firings[0].fault_id
    assert payload["at"] == "receive"
    assert "semantic_hash mismatch" in payload["reason"]
    assert bus.request(msg(price=10, sku="A-1"), timeout=0.1).body.parameters == {"ok": True}
    assert outcomes(run) == [("message_corrupt", "a->b", "recovered")]


def test_corruption_without_validation_is_silent(start_run: StartRun) -> None:
    run = start_run(fault("message_corrupt", field="price"))
    inbox = Inbox()
    with MessageBus(validate=False) as bus:
        bus.register("b", inbox)
        bus.send(msg(price=10, sku="A-1"))
    (got,) = inbox.got
    assert got.body.parameters["price"] != 10
    assert got.body.parameters["sku"] == "A-1"
    assert not got.verify_hash()
    (firing,) = run.firings
    assert firing.corruption is not None
    assert firing.corruption.path == "body.parameters.price"
    assert firing.corruption.original == 10
    assert outcomes(run) == [("message_corrupt", "a->b", "silent")]


def test_corruption_without_validation_is_detected_by_a_checking_handler(
    start_run: StartRun,
) -> None:
    run = start_run(fault("message_corrupt", at_call=1))

    def careful(message: Message) -> None:
        if not message.verify_hash():
            raise ValueError("garbled message")

    with MessageBus(validate=False) as bus:
        bus.register("b", careful)
        bus.send(msg(price=10))
        bus.send(msg(price=10))
    assert "message_failed" in kinds(run)
    assert outcomes(run) == [("message_corrupt", "a->b", "recovered")]


def test_corrupting_an_empty_body_breaks_its_hash(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("message_corrupt"))
    inbox = Inbox()
    bus.register("b", inbox)
    bus.send(Message.create(MessageType.HEARTBEAT, "a", "b"))
    assert inbox.got == []
    (firing,) = run.firings
    assert firing.corruption is not None
    assert firing.corruption.path == "header.semantic_hash"
    assert outcomes(run) == [("message_corrupt", "a->b", "unrecovered")]


# ------------------------------------------------------------ duplicates and reordering
def test_duplicate_hands_the_same_message_over_again(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("message_duplicate", copies=2, at_call=1))
    inbox = Inbox()
    bus.register("b", inbox)
    sent = msg()
    bus.send(sent)
    assert inbox.ids == [sent.header.message_id] * 3
    assert outcomes(run) == [("message_duplicate", "a->b", "tolerated")]


def test_a_duplicated_request_gets_one_reply_and_the_other_is_unclaimed(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_duplicate", receiver="b", at_call=1))
    got: list[Message] = []

    def pricing(message: Message) -> dict[str, int]:
        got.append(message)
        return {"answer": len(got)}

    bus.register("b", pricing)
    reply = bus.request(msg(), timeout=1.0)
    assert reply.body.parameters == {"answer": 1}  # the first reply is the one returned
    assert len(got) == 2
    # Both copies reach b; of the two replies only the first reaches the waiting request: the
    # second is discarded, and the log says so rather than that a delivered it.
    assert [agent for agent, _, _ in events_of(run, "message_delivered")] == ["b", "a", "b"]
    ((agent, _, payload),) = events_of(run, "reply_unclaimed")
    assert agent == "a"
    assert payload["type"] == "TASK_COMPLETE"
    assert "already has its reply" in payload["reason"]
    assert outcomes(run) == [("message_duplicate", "a->b", "tolerated")]


def test_a_late_original_after_a_redelivery_has_its_reply_unclaimed(start_run: StartRun) -> None:
    run = start_run(fault("message_delay", receiver="b", seconds=0.2, at_call=1))
    got: list[Message] = []

    def pricing(message: Message) -> dict[str, int]:
        got.append(message)
        return {"answer": len(got)}

    with MessageBus(delivery="at_least_once", ack_timeout=0.01) as bus:
        bus.register("b", pricing)
        reply = bus.request(msg(), timeout=1.0)  # the redelivery answers first
        assert reply.body.parameters == {"answer": 1}
        assert bus.drain(2.0)  # then the delayed original arrives, and b answers it too
    assert len(got) == 2
    ((agent, _, payload),) = events_of(run, "reply_unclaimed")
    assert (agent, payload["reason"]) == ("a", "the request already has its reply")


def test_reorder_holds_a_message_until_the_next_one_on_its_link(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_reorder", at_call=1))
    inbox = Inbox()
    bus.register("b", inbox)
    bus.register("c", Inbox())
    first, second = msg(n=1), msg(n=2)
    bus.send(first)
    bus.send(msg(receiver="c"))  # another link does not release it
    assert inbox.got == []
    bus.send(second)
    assert [m.body.parameters["n"] for m in inbox.got] == [2, 1]
    assert "message_held" in kinds(run)


def test_drain_releases_a_held_message(bus: MessageBus, start_run: StartRun) -> None:
    start_run(fault("message_reorder"))
    inbox = Inbox()
    bus.register("b", inbox)
    bus.send(msg())
    assert bus.pending == 1
    assert bus.drain(0.1)
    assert len(inbox.got) == 1


# -------------------------------------------------------------------------- partitions
def test_partition_cuts_an_agent_off_both_ways_then_heals(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("partition", target="b", duration=0.05, times=1))
    inboxes = {name: Inbox(reply={}) for name in "abc"}
    for name, inbox in inboxes.items():
        bus.register(name, inbox)
    with pytest.raises(DeliveryTimeout, match="partition"):
        bus.request(msg("a", "b"), timeout=0.01)
    bus.send(msg("b", "c"))  # b cannot send either
    bus.send(msg("a", "c"))  # the others still talk
    assert inboxes["b"].got == []
    assert [m.header.sender for m in inboxes["c"].got] == ["a"]
    time.sleep(0.06)
    bus.request(msg("a", "b"), timeout=0.1)
    assert len(inboxes["b"].got) == 1
    assert kinds(run, "partition_") == ["partition_started", "partition_healed"]
    assert outcomes(run) == [("partition", "b", "recovered")]


def test_a_partition_in_force_does_not_fire_again(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("partition", target="b", duration=1.0))
    bus.register("b", Inbox())
    for _ in range(3):
        bus.send(msg())
    assert len(run.firings) == 1
    assert [fid for _, fid, _ in events_of(run, "message_dropped")] == [run.firings[0].fault_id] * 3


def test_partition_targets_the_receiver_unless_only_the_sender_matches(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("partition", target="a", duration=1.0))
    bus.register("b", Inbox())
    bus.send(msg("a", "b"))
    assert [f.target for f in run.firings] == ["a"]


# ------------------------------------------------------------------------ wrong handoff
def test_wrong_handoff_delivers_to_the_named_agent(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("wrong_handoff", receiver="b", to="c", at_call=1))
    intended, wrong = Inbox(reply={}), Inbox()
    bus.register("b", intended)
    bus.register("c", wrong)
    bus.send(msg())
    assert intended.got == []
    assert len(wrong.got) == 1
    assert "message_misrouted" in kinds(run)
    assert run.firings[0].detail["delivered_to"] == "c"
    bus.request(msg(), timeout=0.1)  # the next one arrives where it should
    assert len(intended.got) == 1


def test_a_misrouted_redelivery_does_not_make_a_drop_good(start_run: StartRun) -> None:
    run = start_run(
        fault("message_drop", at_call=1), fault("wrong_handoff", receiver="b", to="c", at_call=2)
    )
    intended, wrong = Inbox(), Inbox()
    with MessageBus(delivery="at_least_once", ack_timeout=0.005) as bus:
        bus.register("b", intended)
        bus.register("c", wrong)
        bus.send(msg())
    assert (len(intended.got), len(wrong.got)) == (0, 1)  # the wrong agent acknowledged it
    assert outcomes(run) == [
        ("message_drop", "a->b", "unrecovered"),
        ("wrong_handoff", "a->b", "tolerated"),
    ]


def test_wrong_handoff_picks_another_agent_from_the_seed(
    bus: MessageBus, start_run: StartRun
) -> None:
    picks = []
    for attempt in range(2):
        run = start_run(fault("wrong_handoff", at_call=1), seed=11, run_id=f"r{attempt}")
        with MessageBus() as bus:
            for name in "abcde":
                bus.register(name, Inbox())
            bus.send(msg("a", "b"))
        picks.append(run.firings[0].detail["delivered_to"])
    assert picks[0] == picks[1]
    assert picks[0] in {"c", "d", "e"}


def test_wrong_handoff_with_nobody_else_never_fires(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(fault("wrong_handoff"))
    bus.register("b", Inbox())
    bus.send(msg())
    assert run.firings == []


# -------------------------------------------------------------------- selection, seeds
def test_wrong_handoff_sees_who_registers_and_leaves_between_deliveries(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("wrong_handoff"))
    intended, other = Inbox(), Inbox()
    bus.register("b", intended)
    bus.send(msg())  # nobody else to hand it to
    assert run.firings == []
    bus.subscribe("news", "c", other)  # a topic subscriber gets no point-to-point message
    bus.send(msg())
    assert run.firings == []
    bus.register("c", other)
    bus.send(msg())
    assert [firing.detail["delivered_to"] for firing in run.firings] == ["c"]
    bus.unregister("c")
    bus.send(msg())  # nobody else again
    assert len(run.firings) == 1
    assert (len(intended.got), len(other.got)) == (3, 1)


def test_faults_select_by_sender_receiver_and_type(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run(
        fault("message_drop", sender="a*", receiver="b", message_type="HEARTBEAT"),
        fault("message_duplicate", target="c"),  # target names either end of a link
    )
    b, c = Inbox(), Inbox()
    bus.register("b", b)
    bus.register("c", c)
    bus.send(msg("a", "b", type="HEARTBEAT"))
    bus.send(msg("a", "b", type="TASK_ASSIGN"))
    bus.send(msg("x", "b", type="HEARTBEAT"))
    bus.send(msg("a", "c"))
    assert [m.header.sender for m in b.got] == ["a", "x"]
    assert len(c.got) == 2
    assert [(f.spec.kind, f.target) for f in run.firings] == [
        ("message_drop", "a->b"),
        ("message_duplicate", "a->c"),
    ]


def test_a_fault_armed_mid_test_acts_from_then_on(bus: MessageBus, start_run: StartRun) -> None:
    run = start_run()
    inbox = Inbox()
    bus.register("b", inbox)
    bus.send(msg())
    run.add_fault(fault("message_drop", times=1))  # what agentchaos.inject() does
    bus.send(msg())
    bus.send(msg())
    assert len(inbox.got) == 2
    assert [(f.spec.kind, f.call_number) for f in run.firings] == [("message_drop", 1)]


def test_a_fault_naming_an_agent_that_never_appears_never_fires(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_drop", sender="ghost"))
    bus.register("b", Inbox())
    bus.send(msg())
    assert run.firings == []


def _schedule(seed: int) -> list[tuple[str, str, int | None, str]]:
    activate(
        run := ChaosRun(
            run_id=f"seed{seed}",
            nodeid="t",
            seed=seed,
            faults=[
                fault("message_drop", probability=0.3),
                fault("message_corrupt", probability=0.3),
                fault("message_duplicate", probability=0.3),
                fault("wrong_handoff", probability=0.2),
            ],
        )
    )
    try:
        with MessageBus() as bus:
            for name in "abcd":
                bus.register(name, Inbox())
            for i in range(30):
                bus.send(msg("a", "bc"[i % 2], n=i, sku=f"S{i}"))
    finally:
        activate(None)
    return [
        (f.spec.kind, f.target, f.call_number, json.dumps(f.detail, sort_keys=True))
        for f in run.firings
    ]


def test_same_seed_same_message_fault_schedule() -> None:
    first, again, other = _schedule(5), _schedule(5), _schedule(6)
    assert len(first) > 10
    assert first == again
    assert first != other


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"header": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ({"header": {"type": "TASK_ASSIGN"}, "body": {}}, "missing field(s): header.sender"),
        (
            {
                "header": {"type": "BUY_NOW", "sender": "a", "receiver": "b", "semantic_hash": "0"},
                "body": {},
            },
            "unknown message type 'BUY_NOW'",
        ),
    ],
)
def test_bad_raw_messages_are_rejected_at_send(
    bus: MessageBus, start_run: StartRun, raw: Any, reason: str
) -> None:
    run = start_run()
    inbox = Inbox()
    bus.register("b", inbox)
    with pytest.raises(ContractViolation, match=reason.replace("(", r"\(").replace(")", r"\)")):
        bus.send(raw)
    assert inbox.got == []
    ((_, _, payload),) = events_of(run, "message_rejected")
    assert reason in payload["reason"]
    assert payload["at"] == "send"


def test_raw_json_and_dicts_are_accepted(bus: MessageBus) -> None:
    inbox = Inbox()
    bus.register("b", inbox)
    sent = msg(price=3)
    bus.send(sent.to_json())
    bus.send(sent.to_json().encode())
    bus.send(json.loads(sent.to_json()))
    assert inbox.got == [sent] * 3


def test_a_tampered_message_is_rejected_unless_validation_is_off() -> None:
    data = json.loads(msg(price=3).to_json())
    data["body"]["parameters"]["price"] = 4
    with MessageBus() as strict, MessageBus(validate=False) as lax:
        inbox = Inbox()
        strict.register("b", inbox)
        lax.register("b", inbox)
        with pytest.raises(ContractViolation, match="semantic_hash mismatch"):
            strict.send(data)
        lax.send(data)
    assert [m.body.parameters["price"] for m in inbox.got] == [4]


def test_unknown_receiver_is_refused(bus: MessageBus) -> None:
    bus.register("b", Inbox())
    with pytest.raises(DeliveryError, match=r"no agent is registered as 'pricing'.*registered: b"):
        bus.send(msg("a", "pricing"))


@pytest.mark.parametrize(
    ("result", "reason"),
    [("yes", "returned str"), ({"price": object()}, "not JSON values")],
)
def test_a_bad_reply_fails_the_request(bus: MessageBus, result: Any, reason: str) -> None:
    bus.register("b", lambda message: result)
    with pytest.raises(DeliveryError, match=reason):
        bus.request(msg(), timeout=0.1)


def test_replies_can_be_messages_or_message_dicts(bus: MessageBus) -> None:
    bus.register("b", lambda m: m.reply(MessageType.TASK_FAIL, task="no"))
    bus.register("c", lambda m: json.loads(m.reply(MessageType.TASK_COMPLETE).to_json()))
    bus.register("d", lambda m: {"context": 1})
    assert bus.request(msg("a", "b")).header.type is MessageType.TASK_FAIL
    assert bus.request(msg("a", "c")).header.type is MessageType.TASK_COMPLETE
    state = bus.request(msg("a", "d", type="STATE_REQUEST"))
    assert state.header.type is MessageType.STATE_RESPONSE


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"delivery": "exactly_once"}, "delivery='exactly_once': must be one of"),
        ({"ack_timeout": 0}, "ack_timeout=0: must be a number of seconds > 0"),
        ({"ack_timeout": "fast"}, "ack_timeout='fast'"),
        ({"max_redeliveries": -1}, "max_redeliveries=-1: must be a whole number >= 0"),
        ({"max_redeliveries": 1.5}, "max_redeliveries=1.5"),
        ({"validate": "yes"}, "validate='yes': must be True or False"),
        ({"retries": 3}, "unknown argument 'retries'; allowed arguments: delivery"),
    ],
)
def test_bad_bus_options_name_the_argument(options: dict[str, Any], needle: str) -> None:
    with pytest.raises(ChaosConfigError, match=r"^MessageBus: ") as caught:
        check_bus_options(options)
    assert needle in str(caught.value)
    if "retries" not in options:
        with pytest.raises(ChaosConfigError):
            MessageBus(**options)


def test_registering_a_name_twice_is_refused(bus: MessageBus) -> None:
    bus.register("b", Inbox())
    with pytest.raises(ChaosConfigError, match="already registered"):
        bus.register("b", Inbox())
    with pytest.raises(ChaosConfigError, match="non-empty name"):
        bus.register("", Inbox())
    bus.unregister("b")
    bus.register("b", Inbox())


def test_close_cancels_delayed_messages(start_run: StartRun) -> None:
    run = start_run(fault("message_delay", seconds=0.05))
    inbox = Inbox()
    bus = MessageBus()
    bus.register("b", inbox)
    bus.send(msg())
    bus.close()
    time.sleep(0.08)
    assert inbox.got == []
    assert "message_discarded" in kinds(run)
    with pytest.raises(BusError, match="closed"):
        bus.send(msg())


# ----------------------------------------------------------------------- publish/subscribe
def test_publish_reaches_every_subscriber_but_the_publisher(
    bus: MessageBus, start_run: StartRun
) -> None:
    run = start_run(fault("message_drop", receiver="c"))
    inboxes = {name: Inbox() for name in "abc"}
    for name, inbox in inboxes.items():
        bus.subscribe("prices", name, inbox)
    assert bus.publish("prices", msg("a", "prices")) == 2
    assert [len(inboxes[n].got) for n in "abc"] == [0, 1, 0]
    assert [f.target for f in run.firings] == ["a->c"]
    assert bus.publish("nobody", msg("a", "nobody")) == 0
    assert "message_unrouted" in kinds(run)


# ---------------------------------------------------------------------------------- async
def test_async_request_and_delay_on_the_event_loop(start_run: StartRun) -> None:
    run = start_run(fault("message_delay", receiver="b", seconds=0.01, at_call=1))
    got: list[Message] = []

    async def handler(message: Message) -> dict[str, int]:
        got.append(message)
        await asyncio.sleep(0)
        return {"n": len(got)}

    async def main() -> None:
        with MessageBus() as bus:
            bus.register("b", handler)
            await bus.asend(msg())
            assert got == []
            assert await bus.adrain(1.0)
            reply = await bus.arequest(msg(), timeout=0.1)
            assert reply.body.parameters == {"n": 2}
            bus.subscribe("t", "c", handler)
            assert await bus.apublish("t", msg("a", "t")) == 1

    asyncio.run(main())
    assert len(got) == 3
    assert outcomes(run) == [("message_delay", "a->b", "tolerated")]


def test_async_at_least_once_recovers_a_drop(start_run: StartRun) -> None:
    run = start_run(fault("message_drop", receiver="b", at_call=1))

    async def handler(message: Message) -> dict[str, bool]:
        return {"ok": True}

    async def main() -> Message:
        with MessageBus(delivery="at_least_once", ack_timeout=0.01) as bus:
            bus.register("b", handler)
            return await bus.arequest(msg(), timeout=0.2)

    assert asyncio.run(main()).body.parameters == {"ok": True}
    assert outcomes(run) == [("message_drop", "a->b", "recovered")]


def test_async_request_times_out_on_a_drop(start_run: StartRun) -> None:
    run = start_run(fault("message_drop"))

    async def main() -> None:
        with MessageBus() as bus:
            bus.register("b", Inbox(reply={}))
            await bus.arequest(msg(), timeout=0.01)

    with pytest.raises(DeliveryTimeout):
        asyncio.run(main())
    assert outcomes(run) == [("message_drop", "a->b", "unrecovered")]


def test_sync_send_awaits_an_async_handler(bus: MessageBus) -> None:
    async def handler(message: Message) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"via": "async"}

    bus.register("b", handler)
    assert bus.request(msg(), timeout=0.5).body.parameters == {"via": "async"}


# ---------------------------------------------------------------------------- cancellation
def cancel_soon(run: ChaosRun, after: float = 0.05) -> list[float]:
    """Cancel ``run`` from another thread after ``after`` seconds; the list gets the moment."""
    cancelled_at: list[float] = []

    def cancel() -> None:
        cancelled_at.append(time.monotonic())
        run.cancelled.set()

    threading.Timer(after, cancel).start()
    return cancelled_at


def woke_within(cancelled_at: list[float], limit: float = 0.05) -> float:
    assert cancelled_at, "the wait ended before the run was cancelled"
    late = time.monotonic() - cancelled_at[0]
    assert late < limit, f"woke {late * 1000:.0f} ms after the run was cancelled"
    return late


@pytest.mark.parametrize("driver", ["sync", "async"])
@pytest.mark.parametrize("kind", ["message_drop", "message_delay"])
def test_a_request_waiting_for_its_reply_wakes_when_the_run_is_cancelled(
    start_run: StartRun, driver: str, kind: str
) -> None:
    run = start_run(fault(kind, **({"seconds": 5.0} if kind == "message_delay" else {})))
    inbox = Inbox(reply={})

    async def arequest(bus: MessageBus) -> Message:
        return await bus.arequest(msg(), timeout=5.0)

    def request(bus: MessageBus) -> Message:
        if driver == "sync":
            return bus.request(msg(), timeout=5.0)
        return asyncio.run(arequest(bus))

    with MessageBus() as bus:
        bus.register("b", inbox)
        cancelled_at = cancel_soon(run)
        with pytest.raises(DeliveryTimeout, match="chaos run ended before 'b' replied"):
            request(bus)
        woke_within(cancelled_at)
    assert inbox.got == []
    assert "request_timeout" not in kinds(run, "request_")  # nothing recorded after the end


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_a_delayed_delivery_ends_undelivered_when_the_run_is_cancelled(
    start_run: StartRun, driver: str
) -> None:
    run = start_run(fault("message_delay", seconds=5.0))
    inbox = Inbox()

    async def asend_and_drain(bus: MessageBus) -> bool:
        await bus.asend(msg())
        assert bus.pending == 1
        return await bus.adrain(5.0)

    with MessageBus() as bus:
        bus.register("b", inbox)
        cancelled_at = cancel_soon(run)
        if driver == "sync":
            bus.send(msg())
            assert bus.pending == 1
            assert bus.drain(5.0)
        else:
            assert asyncio.run(asend_and_drain(bus))
        woke_within(cancelled_at)
        assert bus.pending == 0
    assert inbox.got == []


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_an_acknowledgement_wait_ends_without_redelivery_when_the_run_is_cancelled(
    start_run: StartRun, driver: str
) -> None:
    run = start_run(fault("message_drop"))

    async def asend(bus: MessageBus) -> None:
        await bus.asend(msg())

    with MessageBus(delivery="at_least_once", ack_timeout=5.0) as bus:
        bus.register("b", Inbox())
        cancelled_at = cancel_soon(run)
        if driver == "sync":
            bus.send(msg())
        else:
            asyncio.run(asend(bus))
        woke_within(cancelled_at)
    assert "message_redelivered" not in kinds(run)
