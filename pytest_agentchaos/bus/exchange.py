"""One message on its way through the bus, and the events it leaves in the run.

An :class:`Exchange` is one message going to one receiver across all its delivery attempts; an
:class:`Attempt` is what the faults do to one of those attempts. A :class:`Waiter` collects the
reply to a request; :func:`until` is what a wait for a reply, an acknowledgement or a delay
watches, so that the run's cancellation ends every wait.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.steps import AnyOf, Signal
from pytest_agentchaos.errors import describe_error as describe
from pytest_agentchaos.model.log import message_payload
from pytest_agentchaos.model.protocol import Message
from pytest_agentchaos.model.records import Firing

__all__ = [
    "Attempt",
    "Exchange",
    "Waiter",
    "describe",
    "message_facts",
    "note",
    "surface",
    "until",
]


def until(event: Signal, run: ChaosRun | None) -> Signal:
    r"""What a wait for ``event`` watches: ``event``, and the cancellation of ``run`` if any.

    Both are :class:`~pytest_agentchaos.engine.steps.Signal`\ s, so a reply, an acknowledgement
    or the end of the run wakes a sync or an async waiter at once (a poll would add its period
    to every measured reply time).
    """
    return event if run is None else AnyOf(event, run.cancelled)


class Waiter:
    """Where the reply to one request goes: the first reply that arrives while it is open."""

    __slots__ = ("_claimed", "_lock", "error", "open", "reply", "signal")

    def __init__(self) -> None:
        self.signal = Signal()
        self.reply: Message | None = None
        self.error: BaseException | None = None
        self.open = True
        self._claimed = False
        self._lock = threading.Lock()

    def claim(self) -> bool:
        """Whether a reply arriving now is the one the request waits for: the request is still
        waiting and no other reply (a duplicate's, a redelivery's) came first."""
        with self._lock:
            if not self.open or self._claimed:
                return False
            self._claimed = True
            return True

    @property
    def claimed(self) -> bool:
        """Whether a reply was taken for the request (it may have returned since)."""
        return self._claimed

    def close(self) -> None:
        """The request stopped waiting: a reply arriving from now on is unclaimed."""
        with self._lock:
            self.open = False

    def put(self, message: Message) -> None:
        if self.reply is None:
            self.reply = message
        self.signal.set()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.signal.set()


@dataclass(eq=False, slots=True)
class Exchange:
    """One message on its way to one receiver, across all its delivery attempts."""

    message: Message
    receiver: str
    topic: str | None
    link: str
    trace: list[Firing]  # faults that acted on this message (and on its reply)
    acked: Signal | None = None  # at_least_once only
    waiter: Waiter | None = None  # a request: its reply goes there
    sink: Waiter | None = None  # a reply to a request: delivered there, not to a handler
    is_reply: bool = False  # what a handler returns for a reply is not sent on: no ping-pong
    attempt: int = 0
    # The message's id, type and sender as events name them: worked out once, and shared by
    # the exchanges of one publish (every event of a chaos run pays for it).
    facts: tuple[str, str, str] | None = field(default=None, repr=False)

    @property
    def sender(self) -> str:
        return self.message.header.sender

    def payload(self, attempt: int | None = None) -> dict[str, object]:
        """What an event about this exchange says (:func:`message_payload`)."""
        facts = self.facts
        if facts is None:
            facts = self.facts = message_facts(self.message)
        message_id, message_type, sender = facts
        return message_payload(message_id, message_type, sender, self.receiver, self.topic, attempt)

    def delivered_quietly(self) -> tuple[str, str, str, str, str | None]:
        """This exchange's first attempt as a delivery record names it (``model/log.py``):
        sender, receiver, message id, type and topic; the events' payloads are built from it
        when they are read or written, not on every delivery."""
        facts = self.facts
        if facts is None:
            facts = self.facts = message_facts(self.message)
        message_id, message_type, sender = facts
        return sender, self.receiver, message_id, message_type, self.topic


def message_facts(message: Message) -> tuple[str, str, str]:
    """The id, type and sender of ``message``, as the payload of a message event names them."""
    header = message.header
    return header.message_id, header.type.value, header.sender


@dataclass(eq=False, slots=True)
class Attempt:
    """What the faults do to one delivery attempt of an exchange."""

    exchange: Exchange
    run: ChaosRun | None
    receiver: str  # who actually gets it (wrong_handoff changes it)
    firings: list[Firing] = field(default_factory=list)
    lost: bool = False
    wire: dict[str, Any] | None = None  # the corrupted serialized form
    corrupt: Firing | None = None
    copies: int = 0
    delay_s: float = 0.0
    hold: bool = False
    # The exchange's ``message_sent`` event waits to be recorded with this attempt's delivery,
    # under one lock (only ever on a first attempt that no fault acts on).
    unsent: bool = False

    @property
    def first_fault_id(self) -> str | None:
        """The fault an event about this attempt names: the first that acted on it."""
        return self.firings[0].fault_id if self.firings else None


def note(
    run: ChaosRun | None,
    agent: str,
    kind: str,
    exchange: Exchange,
    fault_id: str | None = None,
    /,
    **extra: object,
) -> None:
    """Record a message event: the message's id, type, sender, receiver (topic) and ``extra``."""
    if run is not None:
        payload = exchange.payload()
        payload.update(extra)
        run.record(agent, kind, fault_id, payload)


def surface(run: ChaosRun, firings: Iterable[Firing], reason: str) -> None:
    """These firings surfaced; a lost or rejected message says nothing about other corruptions."""
    for firing in firings:
        if firing.detected_ns is None:
            run.detect(reason, fault_id=firing.fault_id, hidden=False)
