"""An in-process message bus whose every delivery passes through the message faults.

Agents register a handler under a name (point-to-point and request/response) or subscribe to a
topic (publish/subscribe); sync and async callers share one engine. While a chaos run is active,
each delivery attempt on a link ``sender->receiver`` asks the run's seeded schedule whether a
message fault fires (``partition``, ``message_drop``, ``wrong_handoff``, ``message_corrupt``,
``message_duplicate``, ``message_delay``, ``message_reorder``), and every send, delivery, drop
and redelivery is an event of the run. Without a run the bus only delivers.

Delivery guarantees are explicit: ``at_most_once`` (the default) hands a message over once, lost
or not; ``at_least_once`` waits ``ack_timeout`` for the receiver's acknowledgement (its handler
returned) and redelivers up to ``max_redeliveries`` times, so a test can measure what the
stronger guarantee buys.

Detection and recovery follow :mod:`pytest_agentchaos.outcomes`: the receiver's contract check
(:func:`~pytest_agentchaos.protocol.validate_message`) failing, a handler raising, a missing
acknowledgement or a request timing out surfaces the faults that acted on that message; a later
successful delivery on the same link (for a partition: involving the healed agent) makes them
good.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import json
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeGuard, cast

from pydantic import ValidationError

from .corruption import Corruption, hallucinate
from .errors import AgentChaosError, ChaosConfigError
from .faults import (
    MessageCorruptFault,
    MessageDelayFault,
    MessageDropFault,
    MessageDuplicateFault,
    MessageFault,
    MessageReorderFault,
    PartitionFault,
    WrongHandoffFault,
)
from .injection import current_run
from .protocol import ContractViolation, Message, MessageType, validate_message
from .records import Firing
from .run import ChaosRun

__all__ = [
    "BUS_OPTIONS",
    "DELIVERY_MODES",
    "MESSAGE_FAULT_KINDS",
    "BusError",
    "BusOptions",
    "DeliveryError",
    "DeliveryTimeout",
    "Handler",
    "MessageBus",
    "check_bus_options",
    "garble",
]

_log = logging.getLogger(__name__)

#: A handler gets the message and may return a reply: a Message, a full message dict, or a dict
#: of reply parameters; ``None`` (or nothing) replies nothing. It may be ``async``.
Handler: TypeAlias = Callable[[Message], Any]
RawMessage: TypeAlias = Message | str | bytes | Mapping[str, Any]

DELIVERY_MODES: tuple[str, ...] = ("at_most_once", "at_least_once")
BUS_OPTIONS: tuple[str, ...] = ("delivery", "ack_timeout", "max_redeliveries", "validate")

#: The order in which faults act on one delivery: a message lost to a partition or a drop is not
#: also corrupted (that corruption could never surface and would count as silent).
_FAULT_ORDER: dict[str, int] = {
    "partition": 0,
    "message_drop": 1,
    "wrong_handoff": 2,
    "message_corrupt": 3,
    "message_duplicate": 4,
    "message_delay": 5,
    "message_reorder": 6,
}
MESSAGE_FAULT_KINDS = frozenset(_FAULT_ORDER)

_REPLY_TYPES = {
    MessageType.REQUEST_CONTEXT: MessageType.PROVIDE_CONTEXT,
    MessageType.STATE_REQUEST: MessageType.STATE_RESPONSE,
}
_HASH_MISMATCH = "semantic_hash mismatch"


class BusError(AgentChaosError):
    """The message bus cannot do what was asked (it is closed, an agent is unknown)."""


class DeliveryError(BusError):
    """A message could not be handled: no such receiver, or its handler failed a request."""


class DeliveryTimeout(BusError, TimeoutError):
    """No reply to a request arrived in time; ``fault_id`` names a fault that acted on it."""

    def __init__(self, text: str, *, message_id: str, receiver: str, fault_id: str | None) -> None:
        super().__init__(text)
        self.message_id, self.receiver, self.fault_id = message_id, receiver, fault_id


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class BusOptions:
    """How a :class:`MessageBus` delivers (validated by :func:`check_bus_options`)."""

    delivery: str = "at_most_once"
    ack_timeout: float = 0.05
    max_redeliveries: int = 3
    validate: bool = True


def check_bus_options(values: Mapping[str, object], source: str = "MessageBus") -> BusOptions:
    """Validate bus options; :class:`ChaosConfigError` names the argument, value and choices."""
    for name in values:
        if name not in BUS_OPTIONS:
            raise ChaosConfigError(
                f"{source}: unknown argument {name!r}; allowed arguments: {', '.join(BUS_OPTIONS)}"
            )
    defaults = BusOptions()
    delivery = values.get("delivery", defaults.delivery)
    if delivery not in DELIVERY_MODES:
        choices = ", ".join(repr(mode) for mode in DELIVERY_MODES)
        raise ChaosConfigError(
            f"{source}: argument delivery={delivery!r}: must be one of {choices}"
        )
    ack_timeout = values.get("ack_timeout", defaults.ack_timeout)
    if not _is_number(ack_timeout) or not 0 < cast(float, ack_timeout) < float("inf"):
        raise ChaosConfigError(
            f"{source}: argument ack_timeout={ack_timeout!r}: must be a number of seconds > 0"
        )
    redeliveries = values.get("max_redeliveries", defaults.max_redeliveries)
    if not isinstance(redeliveries, int) or isinstance(redeliveries, bool) or redeliveries < 0:
        raise ChaosConfigError(
            f"{source}: argument max_redeliveries={redeliveries!r}: must be a whole number >= 0"
        )
    validate = values.get("validate", defaults.validate)
    if not isinstance(validate, bool):
        raise ChaosConfigError(f"{source}: argument validate={validate!r}: must be True or False")
    return BusOptions(str(delivery), float(cast(float, ack_timeout)), redeliveries, validate)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ------------------------------------------------------------------------------ corruption
def garble(
    message: Message, field_path: str | None, rng: random.Random
) -> tuple[dict[str, Any], Corruption]:
    """The message serialized with one field garbled, so that it breaks its contract.

    ``field_path`` is ``"body.parameters.price"``, ``"header.sender"``, ``"parameters.price"``
    or a bare ``"price"`` (looked up in the parameters, then the context); ``None`` picks a body
    field with ``rng``. A body change breaks ``header.semantic_hash``; header fields are not
    covered by that hash, so garbling one passes validation. With no body field to garble, the
    hash itself is garbled.
    """
    wire = message.model_dump(mode="json")
    for section, path in _field_candidates(field_path):
        changed = hallucinate(wire[section], rng, path, None)
        if changed is not None:
            wire[section], corruption = changed
            return wire, Corruption(
                f"{section}.{corruption.path}", corruption.original, corruption.replacement
            )
    digest = str(wire["header"]["semantic_hash"])
    flipped = format((int(digest[0], 16) + rng.randrange(1, 16)) % 16, "x") + digest[1:]
    wire["header"]["semantic_hash"] = flipped
    return wire, Corruption("header.semantic_hash", digest, flipped)


def _field_candidates(field_path: str | None) -> list[tuple[str, str | None]]:
    if field_path is None:
        return [("body", None)]
    section, _, rest = field_path.partition(".")
    if section in ("header", "body") and rest:
        return [(section, rest)]
    return [
        ("body", field_path),
        ("body", f"parameters.{field_path}"),
        ("body", f"context.{field_path}"),
    ]


# ------------------------------------------------------------------------ internal records
class _Cancellable(Protocol):
    def cancel(self) -> object: ...


class _Signal:
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


class _Waiter:
    """Where the reply to one request goes."""

    __slots__ = ("error", "open", "reply", "signal")

    def __init__(self) -> None:
        self.signal = _Signal()
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
class _Exchange:
    """One message on its way to one receiver, across all its delivery attempts."""

    message: Message
    receiver: str
    topic: str | None
    link: str
    trace: list[Firing]  # faults that acted on this message (and on its reply)
    acked: _Signal | None = None  # at_least_once only
    waiter: _Waiter | None = None  # a request: its reply goes there
    sink: _Waiter | None = None  # a reply to a request: delivered there, not to a handler
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
class _Attempt:
    """What the faults do to one delivery attempt of an exchange."""

    exchange: _Exchange
    run: ChaosRun | None
    receiver: str  # who actually gets it (wrong_handoff changes it)
    firings: list[Firing] = field(default_factory=list)
    lost: bool = False
    wire: dict[str, Any] | None = None  # the corrupted serialized form
    corrupt: Firing | None = None
    copies: int = 0
    delay_s: float = 0.0
    hold: bool = False


#: An armed fault selecting a delivery: (schedule index, spec, kind, whether it picks another
#: receiver). A partition in force needs no such check: it already cut this delivery off.
_Selected: TypeAlias = tuple[int, MessageFault, str, bool]


@dataclass
class _RunState:
    """The bus's bookkeeping for one chaos run: counters, partitions, which faults select what."""

    counts: dict[tuple[int, str], int] = field(default_factory=dict)
    partitions: dict[str, tuple[int, Firing]] = field(default_factory=dict)
    healed: dict[str, list[Firing]] = field(default_factory=dict)
    armed_count: int = -1
    specs: list[tuple[int, MessageFault]] = field(default_factory=list)
    selected: dict[tuple[str, str, str], list[_Selected]] = field(default_factory=dict)

    def selecting(
        self, run: ChaosRun, sender: str, receiver: str, message_type: str
    ) -> list[_Selected]:
        """The armed message faults that select this delivery, in the order they act."""
        count = len(run.faults)
        if count != self.armed_count:  # a fault may be armed mid-test (agentchaos.inject)
            self.armed_count = count
            self.specs = sorted(
                ((i, s) for i, s in run.armed(MESSAGE_FAULT_KINDS) if isinstance(s, MessageFault)),
                key=lambda item: (_FAULT_ORDER[item[1].kind], item[0]),
            )
            self.selected.clear()
        key = (sender, receiver, message_type)
        found = self.selected.get(key)
        if found is None:
            found = [
                (i, s, s.kind, isinstance(s, WrongHandoffFault) and s.to is None)
                for i, s in self.specs
                if _selects(s, sender, receiver, message_type)
            ]
            self.selected[key] = found
        return found


# ------------------------------------------------------------------------------- the bus
class MessageBus:
    """An in-process bus: point-to-point, request/response and publish/subscribe, sync or async.

    ``delivery="at_least_once"`` waits ``ack_timeout`` seconds for each acknowledgement and
    redelivers up to ``max_redeliveries`` times. ``validate=True`` checks every message against
    its contract when sent and when a corrupted form is received.
    """

    def __init__(
        self,
        *,
        delivery: str = "at_most_once",
        ack_timeout: float = 0.05,
        max_redeliveries: int = 3,
        validate: bool = True,
    ) -> None:
        options = check_bus_options(
            {
                "delivery": delivery,
                "ack_timeout": ack_timeout,
                "max_redeliveries": max_redeliveries,
                "validate": validate,
            }
        )
        self.delivery = options.delivery
        self.ack_timeout = options.ack_timeout
        self.max_redeliveries = options.max_redeliveries
        self.validate = options.validate
        self._handlers: dict[str, Handler] = {}
        self._topics: dict[str, dict[str, Handler]] = {}
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._scheduled: dict[_Attempt, _Cancellable] = {}  # delayed deliveries in flight
        self._held: dict[str, list[_Attempt]] = {}  # reordered messages, by link
        self._run: ChaosRun | None = None
        self._state = _RunState()
        self._closed = False

    def __repr__(self) -> str:
        return f"<MessageBus {self.delivery} agents={list(self.agents)}>"

    def __enter__(self) -> MessageBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------- registration
    @property
    def agents(self) -> tuple[str, ...]:
        """Every agent that registered or subscribed, sorted."""
        names = set(self._handlers)
        for subscribers in self._topics.values():
            names.update(subscribers)
        return tuple(sorted(names))

    def register(self, name: str, handler: Handler) -> None:
        """Receive point-to-point messages addressed to ``name`` (``header.receiver``)."""
        _check_agent(name, handler)
        with self._lock:
            if name in self._handlers:
                raise ChaosConfigError(f"agent {name!r} is already registered on this bus")
            self._handlers[name] = handler

    def unregister(self, name: str) -> None:
        """Stop delivering to ``name`` (its topic subscriptions included)."""
        with self._lock:
            self._handlers.pop(name, None)
            for subscribers in self._topics.values():
                subscribers.pop(name, None)

    def subscribe(self, topic: str, name: str, handler: Handler) -> None:
        """Receive every message published to ``topic`` (except those ``name`` publishes)."""
        _check_agent(name, handler)
        if not isinstance(topic, str) or not topic:
            raise ChaosConfigError(f"a topic needs a non-empty name, got {topic!r}")
        with self._lock:
            self._topics.setdefault(topic, {})[name] = handler

    # ------------------------------------------------------------------------ sending
    def send(self, message: RawMessage) -> None:
        """Deliver ``message`` to ``header.receiver`` (in this thread unless delayed)."""
        run = current_run()
        msg = self._accept(message, run)
        self._transmit(run, self._point_to_point(run, msg, None))

    def publish(self, topic: str, message: RawMessage) -> int:
        """Deliver ``message`` to every subscriber of ``topic``; returns how many there are."""
        run = current_run()
        msg = self._accept(message, run)
        exchanges = self._fan_out(run, topic, msg)
        for exchange in exchanges:
            self._transmit(run, exchange)
        return len(exchanges)

    def request(self, message: RawMessage, *, timeout: float = 1.0) -> Message:
        """Send ``message`` and wait for the receiver's reply.

        Raises :class:`DeliveryTimeout` when no reply comes within ``timeout`` seconds and
        :class:`DeliveryError` when the receiver's handler raised or replied with a bad message.
        """
        run = current_run()
        msg = self._accept(message, run)
        waiter = _Waiter()
        exchange = self._point_to_point(run, msg, waiter)
        deadline = time.monotonic() + timeout
        self._transmit(run, exchange, deadline)
        waiter.signal.wait(deadline - time.monotonic())
        return self._answer(run, exchange, waiter, timeout)

    async def asend(self, message: RawMessage) -> None:
        """:meth:`send` for async code: async handlers are awaited, delays use the loop."""
        run = current_run()
        msg = self._accept(message, run)
        await self._atransmit(run, self._point_to_point(run, msg, None))

    async def apublish(self, topic: str, message: RawMessage) -> int:
        """:meth:`publish` for async code."""
        run = current_run()
        msg = self._accept(message, run)
        exchanges = self._fan_out(run, topic, msg)
        for exchange in exchanges:
            await self._atransmit(run, exchange)
        return len(exchanges)

    async def arequest(self, message: RawMessage, *, timeout: float = 1.0) -> Message:
        """:meth:`request` for async code."""
        run = current_run()
        msg = self._accept(message, run)
        waiter = _Waiter()
        exchange = self._point_to_point(run, msg, waiter)
        deadline = time.monotonic() + timeout
        await self._atransmit(run, exchange, deadline)
        await waiter.signal.wait_async(deadline - time.monotonic())
        return self._answer(run, exchange, waiter, timeout)

    # ------------------------------------------------------------------ waiting, closing
    def drain(self, timeout: float = 1.0) -> bool:
        """Deliver held (reordered) messages and wait for delayed ones; ``True`` when none is
        left. Delays scheduled on an event loop need :meth:`adrain`."""
        deadline = time.monotonic() + timeout
        while True:
            for attempt in self._take_held(None):
                self._dispatch_now(attempt)
            with self._idle:
                while self._scheduled and (left := deadline - time.monotonic()) > 0:
                    self._idle.wait(left)
                if not self._scheduled and not self._held:
                    return True
            if time.monotonic() >= deadline:
                return False

    async def adrain(self, timeout: float = 1.0) -> bool:
        """:meth:`drain` for async code."""
        deadline = time.monotonic() + timeout
        while True:
            for attempt in self._take_held(None):
                await self._adispatch_now(attempt)
            if not self._scheduled and not self._held:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.001)

    @property
    def pending(self) -> int:
        """Messages delayed or held that have not been delivered yet."""
        with self._lock:
            return len(self._scheduled) + sum(len(held) for held in self._held.values())

    def close(self) -> None:
        """Cancel delayed deliveries and discard held messages; sending afterwards fails."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            scheduled = list(self._scheduled.items())
            self._scheduled.clear()
            held = [attempt for attempts in self._held.values() for attempt in attempts]
            self._held.clear()
            self._idle.notify_all()
        for _, job in scheduled:
            job.cancel()
        for attempt in [attempt for attempt, _ in scheduled] + held:
            run, exchange = attempt.run, attempt.exchange
            if run is not None and not run.cancelled.is_set():
                _note(run, exchange.sender, "message_discarded", exchange, reason="bus closed")

    # ----------------------------------------------------------------- accepting input
    def _parse(self, raw: object) -> Message:
        if not self.validate and isinstance(raw, Message):
            return raw
        try:
            return validate_message(cast(Any, dict(raw) if _is_mapping(raw) else raw))
        except ContractViolation as error:
            if self.validate or not error.reason.startswith(_HASH_MISMATCH):
                raise
        if isinstance(raw, Message):
            return raw
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
        return Message.model_validate(data)

    def _accept(self, raw: object, run: ChaosRun | None) -> Message:
        if self._closed:
            raise BusError("this message bus is closed")
        try:
            return self._parse(raw)
        except ContractViolation as error:
            if run is not None:
                payload = {"at": "send", "reason": error.reason}
                run.record(_sender_of(raw), "message_rejected", None, payload)
            raise

    def _point_to_point(
        self, run: ChaosRun | None, message: Message, waiter: _Waiter | None
    ) -> _Exchange:
        receiver = message.header.receiver
        if receiver not in self._handlers:
            known = ", ".join(sorted(self._handlers)) or "none"
            reason = (
                f"no agent is registered as {receiver!r} (receiver of "
                f"{message.header.type.value} {message.header.message_id}); registered: {known}"
            )
            if run is not None:
                payload = {"at": "send", "reason": reason}
                run.record(message.header.sender, "message_rejected", None, payload)
            raise DeliveryError(reason)
        return self._exchange(message, receiver, None, waiter=waiter)

    def _fan_out(self, run: ChaosRun | None, topic: str, message: Message) -> list[_Exchange]:
        sender = message.header.sender
        receivers = [name for name in self._topics.get(topic, {}) if name != sender]
        if not receivers and run is not None:
            payload = {"id": message.header.message_id, "topic": topic}
            run.record(sender, "message_unrouted", None, payload)
        return [self._exchange(message, name, topic) for name in receivers]

    def _exchange(
        self,
        message: Message,
        receiver: str,
        topic: str | None,
        *,
        waiter: _Waiter | None = None,
        sink: _Waiter | None = None,
        trace: list[Firing] | None = None,
        is_reply: bool = False,
    ) -> _Exchange:
        return _Exchange(
            message,
            receiver,
            topic,
            f"{message.header.sender}->{receiver}",
            trace if trace is not None else [],
            _Signal() if self.delivery == "at_least_once" else None,
            waiter,
            sink,
            is_reply,
        )

    # ------------------------------------------------------------------ transmitting
    def _transmit(
        self, run: ChaosRun | None, exchange: _Exchange, deadline: float | None = None
    ) -> None:
        _note(run, exchange.sender, "message_sent", exchange)
        while True:
            attempt = self._plan(run, exchange)
            self._dispatch(attempt)
            acked = exchange.acked
            if (
                acked is None
                or acked.wait(self.ack_timeout)
                or not self._redeliver(attempt, deadline)
            ):
                return

    async def _atransmit(
        self, run: ChaosRun | None, exchange: _Exchange, deadline: float | None = None
    ) -> None:
        _note(run, exchange.sender, "message_sent", exchange)
        while True:
            attempt = self._plan(run, exchange)
            await self._adispatch(attempt)
            acked = exchange.acked
            if acked is None or await acked.wait_async(self.ack_timeout):
                return
            if not self._redeliver(attempt, deadline):
                return

    def _redeliver(self, attempt: _Attempt, deadline: float | None) -> bool:
        """No acknowledgement came: surface what acted on the attempt; whether to try again."""
        exchange, run = attempt.exchange, attempt.run
        if run is not None:
            reason = f"no ack from {attempt.receiver} within {self.ack_timeout:g} s"
            _surface(run, attempt.firings, reason)
        over = deadline is not None and time.monotonic() >= deadline
        if exchange.attempt >= self.max_redeliveries or over or self._closed:
            attempts = exchange.attempt + 1
            _note(run, exchange.sender, "message_undelivered", exchange, attempts=attempts)
            return False
        exchange.attempt += 1
        fault_id = attempt.firings[0].fault_id if attempt.firings else None
        _note(
            run,
            exchange.sender,
            "message_redelivered",
            exchange,
            fault_id,
            attempt=exchange.attempt,
        )
        return True

    def _answer(
        self, run: ChaosRun | None, exchange: _Exchange, waiter: _Waiter, timeout: float
    ) -> Message:
        waiter.open = False
        if waiter.reply is not None:
            return waiter.reply
        header = exchange.message.header
        what = f"{header.type.value} {header.message_id}"
        if waiter.error is not None:
            raise DeliveryError(
                f"{exchange.receiver!r} failed handling {what}: {_describe(waiter.error)}"
            ) from waiter.error
        reason = f"no reply from {exchange.receiver!r} to {what} within {timeout:g} s"
        if run is not None:
            _surface(run, exchange.trace, reason)
            _note(run, exchange.sender, "request_timeout", exchange, timeout_s=timeout)
        kinds = sorted({firing.spec.kind for firing in exchange.trace})
        raise DeliveryTimeout(
            reason + (f" (message faults on this exchange: {', '.join(kinds)})" if kinds else ""),
            message_id=header.message_id,
            receiver=exchange.receiver,
            fault_id=exchange.trace[0].fault_id if exchange.trace else None,
        )

    # ------------------------------------------------------------------------ planning
    def _plan(self, run: ChaosRun | None, exchange: _Exchange) -> _Attempt:
        """Decide, from the run's seeded schedule, what the faults do to this attempt."""
        attempt = _Attempt(exchange, run, exchange.receiver)
        if run is None:
            return attempt
        with self._lock:
            if self._run is not run:
                self._run, self._state = run, _RunState()
            state = self._state
            header = exchange.message.header
            sender, receiver, link = header.sender, exchange.receiver, exchange.link
            selected = state.selecting(run, sender, receiver, header.type)
            if state.partitions:
                self._cut_off(run, state, attempt, sender, receiver)
            if not selected:
                return attempt
            counts, acted = state.counts, set()
            for index, spec, kind, needs_others in selected:
                key = (index, link)
                number = counts[key] = counts.get(key, 0) + 1
                if attempt.lost or kind in acted:
                    continue
                if needs_others and not self._others(attempt):
                    continue  # nobody else to hand it to: a wrong handoff cannot act here
                if run.decide(index, link, number):
                    self._act(run, state, attempt, index, spec, number)
                    acted.add(kind)
        return attempt

    def _cut_off(
        self, run: ChaosRun, state: _RunState, attempt: _Attempt, sender: str, receiver: str
    ) -> None:
        now = time.monotonic_ns()
        for agent in (sender, receiver):
            entry = state.partitions.get(agent)
            if entry is None:
                continue
            heal_ns, firing = entry
            if now >= heal_ns:
                del state.partitions[agent]
                state.healed.setdefault(agent, []).append(firing)
                run.record(agent, "partition_healed", firing.fault_id, None)
                continue
            attempt.lost = True
            attempt.firings.append(firing)
            attempt.exchange.trace.append(firing)
            exchange = attempt.exchange
            reason = f"partition: {agent} is cut off"
            _note(run, sender, "message_dropped", exchange, firing.fault_id, reason=reason)
            return

    def _cut_agent(self, attempt: _Attempt, spec: PartitionFault) -> str:
        """The agent a partition cuts off: the receiver, unless ``target`` names only the sender."""
        sender, receiver = attempt.exchange.sender, attempt.exchange.receiver
        if spec.target != "*" and not spec.matches(receiver) and spec.matches(sender):
            return sender
        return receiver

    def _others(self, attempt: _Attempt) -> list[str]:
        exchange = attempt.exchange
        return [
            name
            for name in self._receivers(exchange.topic)
            if name not in (exchange.sender, exchange.receiver)
        ]

    def _act(
        self,
        run: ChaosRun,
        state: _RunState,
        attempt: _Attempt,
        index: int,
        spec: MessageFault,
        number: int,
    ) -> None:
        """``spec`` fired on this delivery attempt: record it and do what it does."""
        exchange = attempt.exchange
        sender, link = exchange.sender, exchange.link
        target = self._cut_agent(attempt, spec) if isinstance(spec, PartitionFault) else link
        firing = run.fire(spec, target, number)
        attempt.firings.append(firing)
        exchange.trace.append(firing)
        rng = run.rng(firing)
        fid = firing.fault_id
        if isinstance(spec, PartitionFault):
            state.partitions[target] = (firing.injected_ns + int(spec.duration * 1e9), firing)
            firing.detail["link"] = link
            payload = {"duration_s": spec.duration, "link": link}
            run.record(target, "partition_started", fid, payload)
            attempt.lost = True
            reason = f"partition: {target} is cut off"
            _note(run, sender, "message_dropped", exchange, fid, reason=reason)
        elif isinstance(spec, MessageDropFault):
            attempt.lost = True
            _note(run, sender, "message_dropped", exchange, fid, reason="message_drop")
        elif isinstance(spec, WrongHandoffFault):
            attempt.receiver = spec.to if spec.to is not None else rng.choice(self._others(attempt))
            firing.detail["delivered_to"] = attempt.receiver
            _note(run, attempt.receiver, "message_misrouted", exchange, fid)
        elif isinstance(spec, MessageCorruptFault):
            attempt.wire, firing.corruption = garble(exchange.message, spec.field, rng)
            attempt.corrupt = firing
            firing.detail["path"] = path = firing.corruption.path
            run.corrupted(firing)
            _note(run, sender, "message_corrupted", exchange, fid, path=path)
        elif isinstance(spec, MessageDuplicateFault):
            attempt.copies = spec.copies
            _note(run, sender, "message_duplicated", exchange, fid, copies=spec.copies)
        elif isinstance(spec, MessageDelayFault):
            attempt.delay_s = spec.seconds
            _note(run, sender, "message_delayed", exchange, fid, seconds=spec.seconds)
        elif isinstance(spec, MessageReorderFault):
            attempt.hold = True
            _note(run, sender, "message_held", exchange, fid)

    def _receivers(self, topic: str | None) -> list[str]:
        if topic is None:
            return sorted(self._handlers)
        return sorted(set(self._handlers) | set(self._topics.get(topic, {})))

    # ---------------------------------------------------------------------- dispatching
    def _dispatch(self, attempt: _Attempt) -> None:
        if attempt.lost or self._hold(attempt):
            return
        self._dispatch_now(attempt)

    async def _adispatch(self, attempt: _Attempt) -> None:
        if attempt.lost or self._hold(attempt):
            return
        await self._adispatch_now(attempt)

    def _dispatch_now(self, attempt: _Attempt) -> None:
        if attempt.delay_s:
            timer = threading.Timer(attempt.delay_s, self._arrive, (attempt,))
            timer.daemon = True
            with self._lock:
                self._scheduled[attempt] = timer
            timer.start()
            return
        self._deliver(attempt)
        for held in self._take_held(attempt.exchange.link):
            self._dispatch_now(held)

    async def _adispatch_now(self, attempt: _Attempt) -> None:
        if attempt.delay_s:
            loop = asyncio.get_running_loop()
            with self._lock:
                self._scheduled[attempt] = loop.call_later(
                    attempt.delay_s, self._astart, attempt, loop
                )
            return
        await self._adeliver(attempt)
        for held in self._take_held(attempt.exchange.link):
            await self._adispatch_now(held)

    def _hold(self, attempt: _Attempt) -> bool:
        if not attempt.hold:
            return False
        attempt.hold = False  # released by the next delivery on its link, or drain()
        with self._lock:
            self._held.setdefault(attempt.exchange.link, []).append(attempt)
        return True

    def _take_held(self, link: str | None) -> list[_Attempt]:
        if not self._held:
            return []
        with self._lock:
            if link is not None:
                return self._held.pop(link, [])
            held = [attempt for attempts in self._held.values() for attempt in attempts]
            self._held.clear()
            return held

    def _arrive(self, attempt: _Attempt) -> None:
        """A delayed message arrives (on its timer's thread)."""
        try:
            if self._in_time(attempt):
                self._deliver(attempt)
                for held in self._take_held(attempt.exchange.link):
                    self._dispatch_now(held)
        finally:
            self._done(attempt)

    def _astart(self, attempt: _Attempt, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            if attempt not in self._scheduled:  # closed meanwhile
                return
            task = loop.create_task(self._aarrive(attempt))
            self._scheduled[attempt] = task

    async def _aarrive(self, attempt: _Attempt) -> None:
        try:
            if self._in_time(attempt):
                await self._adeliver(attempt)
                for held in self._take_held(attempt.exchange.link):
                    await self._adispatch_now(held)
        finally:
            self._done(attempt)

    def _in_time(self, attempt: _Attempt) -> bool:
        run = attempt.run
        return not self._closed and (run is None or not run.cancelled.is_set())

    def _done(self, attempt: _Attempt) -> None:
        with self._idle:
            self._scheduled.pop(attempt, None)
            self._idle.notify_all()

    # ------------------------------------------------------------------------ delivering
    def _deliver(self, attempt: _Attempt) -> None:
        for copy in range(attempt.copies + 1):
            target = self._open(attempt, copy)
            if target is None:
                continue
            message, handler = target
            try:
                result = _settle(handler(message))
            except Exception as error:
                self._failed(attempt, message, error)
                continue
            reply = self._handled(attempt, message, result)
            if reply is not None:
                self._transmit(attempt.run, reply)

    async def _adeliver(self, attempt: _Attempt) -> None:
        for copy in range(attempt.copies + 1):
            target = self._open(attempt, copy)
            if target is None:
                continue
            message, handler = target
            try:
                result = handler(message)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as error:
                self._failed(attempt, message, error)
                continue
            reply = self._handled(attempt, message, result)
            if reply is not None:
                await self._atransmit(attempt.run, reply)

    def _open(self, attempt: _Attempt, copy: int) -> tuple[Message, Handler] | None:
        """The message as the receiver sees it and who handles it; ``None`` if it goes no
        further (rejected by the contract check, nobody to receive it)."""
        exchange, run = attempt.exchange, attempt.run
        message = exchange.message
        if attempt.wire is not None:
            checked = self._check_wire(attempt)
            if checked is None:
                return None
            message = checked
        handler: Handler | None
        sink = exchange.sink
        if sink is not None and attempt.receiver == exchange.receiver:
            if not sink.open:  # the request timed out already
                _note(run, attempt.receiver, "reply_unclaimed", exchange)
                if exchange.acked is not None:
                    exchange.acked.set()
                return None
            handler = sink.put
        else:
            handler = self._handler_of(attempt.receiver, exchange.topic)
        if handler is None:
            reason = f"no agent is registered as {attempt.receiver!r}"
            fid = attempt.firings[0].fault_id if attempt.firings else None
            _note(run, exchange.sender, "message_dropped", exchange, fid, reason=reason)
            return None
        if run is not None:
            extra: dict[str, object] = {"attempt": exchange.attempt}
            if copy:
                extra["copy"] = copy
            if attempt.receiver != exchange.receiver:
                extra["delivered_to"] = attempt.receiver
            _note(run, attempt.receiver, "message_delivered", exchange, **extra)
        return message, handler

    def _check_wire(self, attempt: _Attempt) -> Message | None:
        """The receiver's contract check of a corrupted message."""
        run, firing = attempt.run, attempt.corrupt
        assert run is not None
        assert firing is not None
        try:
            if self.validate:
                return validate_message(cast(Any, attempt.wire))
            return Message.model_validate(attempt.wire)
        except (ContractViolation, ValidationError) as error:
            reason = error.reason if isinstance(error, ContractViolation) else str(error)
            receiver, fid = attempt.receiver, firing.fault_id
            _note(
                run,
                receiver,
                "message_rejected",
                attempt.exchange,
                fid,
                at="receive",
                reason=reason,
            )
            _surface(run, [firing], f"contract check at {receiver}: {reason}")
            return None

    def _handler_of(self, name: str, topic: str | None) -> Handler | None:
        if topic is not None:
            handler = self._topics.get(topic, {}).get(name)
            if handler is not None:
                return handler
        return self._handlers.get(name)

    def _failed(self, attempt: _Attempt, message: Message, error: Exception) -> None:
        exchange, run = attempt.exchange, attempt.run
        header = message.header
        _log.warning(
            "agent %r raised handling %s %s: %s",
            attempt.receiver,
            header.type.value,
            header.message_id,
            _describe(error),
        )
        _note(run, attempt.receiver, "message_failed", exchange, error=_describe(error))
        if run is not None:
            what = f"{type(error).__name__} handling {header.type.value}"
            _surface(run, attempt.firings, f"{attempt.receiver} raised {what}")
        if exchange.waiter is not None:
            exchange.waiter.fail(error)

    def _handled(self, attempt: _Attempt, message: Message, result: object) -> _Exchange | None:
        """The handler returned: acknowledge, make earlier faults good, route its reply."""
        exchange, run = attempt.exchange, attempt.run
        if exchange.acked is not None:  # a wrong receiver acknowledges too: the sender can't tell
            exchange.acked.set()
        # Only the intended receiver getting the true message makes the link's faults good.
        if run is not None and attempt.wire is None and attempt.receiver == exchange.receiver:
            run.complete(exchange.link)
            if self._state.healed and self._run is run:
                self._healed(run, exchange.sender, attempt.receiver)
        if result is None:
            return None
        if exchange.is_reply:
            reason = "a reply to a reply is not sent"
            _note(run, attempt.receiver, "reply_unclaimed", exchange, reason=reason)
            return None
        try:
            reply = self._reply(message, result, attempt.receiver)
        except ContractViolation as error:
            reason = error.reason
            _note(run, attempt.receiver, "message_rejected", exchange, at="reply", reason=reason)
            if exchange.waiter is not None:
                exchange.waiter.fail(error)
            return None
        receiver = reply.header.receiver
        if exchange.waiter is None and receiver not in self._handlers:
            reason = f"{receiver!r}, who sent {exchange.message.header.message_id}, has no handler"
            _note(run, attempt.receiver, "reply_unclaimed", exchange, reason=reason)
            return None
        return self._exchange(
            reply, receiver, None, sink=exchange.waiter, trace=exchange.trace, is_reply=True
        )

    def _healed(self, run: ChaosRun, *agents: str) -> None:
        """A healed agent delivered or received again: its surfaced partitions are made good."""
        with self._lock:
            for agent in agents:
                firings = self._state.healed.get(agent)
                if not firings:
                    continue
                if any(f.detected_ns is not None and f.recovered_ns is None for f in firings):
                    run.complete(agent)
                self._state.healed[agent] = [f for f in firings if f.recovered_ns is None]

    def _reply(self, message: Message, result: object, replier: str) -> Message:
        """A handler's return value as a reply message."""
        if isinstance(result, Message):
            return self._parse(result)
        if _is_mapping(result):
            data = dict(result)
            if "header" in data:
                return self._parse(data)
            reply_type = _REPLY_TYPES.get(message.header.type, MessageType.TASK_COMPLETE)
            try:
                return Message.create(
                    reply_type,
                    replier,
                    message.header.sender,
                    parameters=data,
                    correlation_id=message.header.message_id,
                )
            except (ValidationError, ValueError) as error:
                raise ContractViolation(
                    f"reply parameters are not JSON values: {error}", result
                ) from error
        raise ContractViolation(
            f"the handler of {replier!r} returned {type(result).__name__}; "
            "return None, a Message, a message dict or a dict of reply parameters",
            result,
        )


# --------------------------------------------------------------------------------- helpers
def _check_agent(name: object, handler: object) -> None:
    if not isinstance(name, str) or not name:
        raise ChaosConfigError(f"an agent needs a non-empty name, got {name!r}")
    if not callable(handler):
        raise ChaosConfigError(f"the handler of agent {name!r} must be callable, got {handler!r}")


def _selects(spec: MessageFault, sender: str, receiver: str, message_type: str) -> bool:
    """Whether ``spec`` selects this delivery; a ``target`` other than ``*`` names either end."""
    return spec.matches_message(sender, receiver, message_type) and (
        spec.target == "*" or spec.matches(sender) or spec.matches(receiver)
    )


def _note(
    run: ChaosRun | None,
    agent: str,
    kind: str,
    exchange: _Exchange,
    fault_id: str | None = None,
    /,
    **extra: object,
) -> None:
    """Record a message event: the message's id, type, sender, receiver (topic) and ``extra``."""
    if run is not None:
        run.record(agent, kind, fault_id, exchange.payload(**extra))


def _surface(run: ChaosRun, firings: Iterable[Firing], reason: str) -> None:
    """These firings surfaced; a lost or rejected message says nothing about other corruptions."""
    for firing in firings:
        if firing.detected_ns is None:
            run.detect(reason, fault_id=firing.fault_id, hidden=False)


def _settle(result: object) -> object:
    """The value of an async handler called from sync code."""
    if not inspect.isawaitable(result):
        return result
    awaitable = cast(Awaitable[object], result)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_await(awaitable))
    # Sync code inside a running loop (send() from a coroutine) cannot wait on that loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _await(awaitable)).result()


async def _await(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def _sender_of(raw: object) -> str:
    """Best effort: who sent a message that failed its contract check."""
    data: object = raw
    if isinstance(raw, Message):
        return raw.header.sender
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw)
        except ValueError:
            return "?"
    if isinstance(data, Mapping):
        header = data.get("header")
        if isinstance(header, Mapping) and isinstance(header.get("sender"), str):
            return str(header["sender"])
    return "?"


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
