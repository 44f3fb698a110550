"""One message on its way through the bus, and the events it leaves in the run.

An :class:`Exchange` is one message going to one receiver across all its delivery attempts; an
:class:`Attempt` is what the faults do to one of those attempts. A :class:`Waiter` collects the
reply to a request; a :class:`Signal` is the acknowledgement (or reply) that threads and event
loops wait for.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.errors import describe_error as describe
from pytest_agentchaos.model.protocol import Message
from pytest_agentchaos.model.records import Firing

__all__ = ["Attempt", "Exchange", "Signal", "Waiter", "describe", "note", "surface"]


class Signal:
    """A one-shot flag that threads and event loops (any number of each) can wait for."""

    __slots__ = ("_event", "_futures", "_lock")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def set(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            futures, self._futures = self._futures, []
        for loop, future in futures:
            with contextlib.suppress(RuntimeError):  # a closed loop: its waiter is gone
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: float) -> bool:
        return self._event.wait(max(0.0, timeout))

    async def wait_async(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._event.is_set():
                return True
            self._futures.append((loop, future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(future, max(0.0, timeout))
        return self._event.is_set()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Waiter:
    """Where the reply to one request goes."""

    __slots__ = ("error", "open", "reply", "signal")

    def __init__(self) -> None:
        self.signal = Signal()
        self.reply: Message | None = None
        self.error: BaseException | None = None
        self.open = True

    def put(self, message: Message) -> None:
        if self.reply is None:
            self.reply = message
        self.signal.set()

    def fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.signal.set()


@dataclass(eq=False)
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

    @property
    def sender(self) -> str:
        return self.message.header.sender

    def payload(self, **extra: object) -> dict[str, object]:
        header = self.message.header
        data: dict[str, object] = {
            "id": header.message_id,
            "type": header.type.value,
            "sender": header.sender,
            "receiver": self.receiver,
        }
        if self.topic is not None:
            data["topic"] = self.topic
        data.update(extra)
        return data


@dataclass(eq=False)
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
        run.record(agent, kind, fault_id, exchange.payload(**extra))


def surface(run: ChaosRun, firings: Iterable[Firing], reason: str) -> None:
    """These firings surfaced; a lost or rejected message says nothing about other corruptions."""
    for firing in firings:
        if firing.detected_ns is None:
            run.detect(reason, fault_id=firing.fault_id, hidden=False)
