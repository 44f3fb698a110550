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

Detection and recovery follow :mod:`pytest_agentchaos.model.outcomes`: the receiver's contract check
(:func:`~pytest_agentchaos.protocol.validate_message`) failing, a handler raising, a missing
acknowledgement or a request timing out surfaces the faults that acted on that message; a later
successful delivery on the same link (for a partition: involving the healed agent) makes them
good.

Every operation is written once, as a generator of :mod:`~pytest_agentchaos.engine.steps`:
``send`` and ``asend`` (and each other pair) only pick the driver, ``run_sync`` or
``run_async``, and where a delayed delivery waits (a thread, or a task on the caller's loop).

This module is the bus's public face; its parts live beside it: ``config.bus_options``
(settings), ``routes`` (who receives what), ``envelope`` (input read as messages), ``exchange``
(a message on its way), ``faults`` (what the faults do to an attempt), ``dispatch`` (delays and
reordering) and ``delivery`` (attempts, acknowledgements, replies).
"""

from __future__ import annotations

import threading
import time

from pytest_agentchaos.bus.delivery import Courier
from pytest_agentchaos.bus.dispatch import Launch, in_thread, on_loop
from pytest_agentchaos.bus.envelope import RawMessage, parse_message, sender_of
from pytest_agentchaos.bus.exchange import (
    Exchange,
    Waiter,
    describe,
    message_facts,
    note,
    surface,
    until,
)
from pytest_agentchaos.bus.faults import MESSAGE_FAULT_KINDS, FaultPlanner, garble
from pytest_agentchaos.bus.routes import Handler, Routes
from pytest_agentchaos.config.bus_options import (
    BUS_OPTIONS,
    DELIVERY_MODES,
    BusOptions,
    check_bus_options,
)
from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.steps import Steps, Wait, run_async, run_sync
from pytest_agentchaos.errors import AgentChaosError
from pytest_agentchaos.model.protocol import ContractViolation, Message

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


class BusError(AgentChaosError):
    """The message bus cannot do what was asked (it is closed, an agent is unknown)."""


class DeliveryError(BusError):
    """A message could not be handled: no such receiver, or its handler failed a request."""


class DeliveryTimeout(BusError, TimeoutError):
    """No reply to a request arrived in time; ``fault_id`` names a fault that acted on it."""

    def __init__(self, text: str, *, message_id: str, receiver: str, fault_id: str | None) -> None:
        super().__init__(text)
        self.message_id, self.receiver, self.fault_id = message_id, receiver, fault_id


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
        lock = threading.RLock()  # one lock: registering, planning and scheduling never race
        self._routes = Routes(lock)
        # The courier reads the options from these attributes at each use, not a copy.
        self._courier = Courier(self, self._routes, FaultPlanner(lock, self._routes), lock)
        self._dispatcher = self._courier.dispatcher

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
        return self._routes.agents

    def register(self, name: str, handler: Handler) -> None:
        """Receive point-to-point messages addressed to ``name`` (``header.receiver``)."""
        self._routes.register(name, handler)

    def unregister(self, name: str) -> None:
        """Stop delivering to ``name`` (its topic subscriptions included)."""
        self._routes.unregister(name)

    def subscribe(self, topic: str, name: str, handler: Handler) -> None:
        """Receive every message published to ``topic`` (except those ``name`` publishes)."""
        self._routes.subscribe(topic, name, handler)

    # ------------------------------------------------------------------------ sending
    def send(self, message: RawMessage) -> None:
        """Deliver ``message`` to ``header.receiver`` (in this thread unless delayed)."""
        run_sync(self._send(message, in_thread))

    async def asend(self, message: RawMessage) -> None:
        """:meth:`send` for async code: async handlers are awaited, delays use the loop."""
        await run_async(self._send(message, on_loop))

    def publish(self, topic: str, message: RawMessage) -> int:
        """Deliver ``message`` to every subscriber of ``topic``; returns how many there are."""
        return run_sync(self._publish(topic, message, in_thread))

    async def apublish(self, topic: str, message: RawMessage) -> int:
        """:meth:`publish` for async code."""
        return await run_async(self._publish(topic, message, on_loop))

    def request(self, message: RawMessage, *, timeout: float = 1.0) -> Message:
        """Send ``message`` and wait for the receiver's reply.

        Raises :class:`DeliveryTimeout` when no reply comes within ``timeout`` seconds (or the
        chaos run is cancelled first) and :class:`DeliveryError` when the receiver's handler
        raised or replied with a bad message.
        """
        return run_sync(self._request(message, timeout, in_thread))

    async def arequest(self, message: RawMessage, *, timeout: float = 1.0) -> Message:
        """:meth:`request` for async code."""
        return await run_async(self._request(message, timeout, on_loop))

    def _send(self, raw: RawMessage, launch: Launch) -> Steps[None]:
        run = current_run()
        message = self._accept(raw, run)
        yield from self._courier.transmit(run, self._point_to_point(run, message, None), launch)

    def _publish(self, topic: str, raw: RawMessage, launch: Launch) -> Steps[int]:
        run = current_run()
        message = self._accept(raw, run)
        exchanges = self._fan_out(run, topic, message)
        for exchange in exchanges:
            yield from self._courier.transmit(run, exchange, launch)
        return len(exchanges)

    def _request(self, raw: RawMessage, timeout: float, launch: Launch) -> Steps[Message]:
        run = current_run()
        message = self._accept(raw, run)
        waiter = Waiter()
        exchange = self._point_to_point(run, message, waiter)
        deadline = time.monotonic() + timeout
        yield from self._courier.transmit(run, exchange, launch, deadline)
        yield Wait(max(0.0, deadline - time.monotonic()), until(waiter.signal, run))
        return self._answer(run, exchange, waiter, timeout)

    # ------------------------------------------------------------------ waiting, closing
    def drain(self, timeout: float = 1.0) -> bool:
        """Deliver held (reordered) messages and wait for delayed ones; ``True`` when none is
        left. Delays scheduled on an event loop need :meth:`adrain`."""
        return run_sync(self._dispatcher.drain(timeout, in_thread))

    async def adrain(self, timeout: float = 1.0) -> bool:
        """:meth:`drain` for async code."""
        return await run_async(self._dispatcher.drain(timeout, on_loop))

    @property
    def pending(self) -> int:
        """Messages delayed or held that have not been delivered yet."""
        return self._dispatcher.pending

    def close(self) -> None:
        """Cancel delayed deliveries and discard held messages; sending afterwards fails."""
        self._dispatcher.close()

    # ------------------------------------------------------------------ accepting input
    def _accept(self, raw: object, run: ChaosRun | None) -> Message:
        if self._dispatcher.closed:
            raise BusError("this message bus is closed")
        try:
            return parse_message(raw, validate=self.validate)
        except ContractViolation as error:
            if run is not None:
                payload = {"at": "send", "reason": error.reason}
                run.record(sender_of(raw), "message_rejected", None, payload)
            raise

    def _point_to_point(
        self, run: ChaosRun | None, message: Message, waiter: Waiter | None
    ) -> Exchange:
        receiver = message.header.receiver
        if not self._routes.is_registered(receiver):
            known = ", ".join(self._routes.registered) or "none"
            reason = (
                f"no agent is registered as {receiver!r} (receiver of "
                f"{message.header.type.value} {message.header.message_id}); registered: {known}"
            )
            if run is not None:
                payload = {"at": "send", "reason": reason}
                run.record(message.header.sender, "message_rejected", None, payload)
            raise DeliveryError(reason)
        return self._courier.exchange(message, receiver, None, waiter=waiter)

    def _fan_out(self, run: ChaosRun | None, topic: str, message: Message) -> list[Exchange]:
        sender = message.header.sender
        receivers = [name for name in self._routes.subscribers(topic) if name != sender]
        if run is None:
            return [self._courier.exchange(message, name, topic) for name in receivers]
        if not receivers:
            payload = {"id": message.header.message_id, "topic": topic}
            run.record(sender, "message_unrouted", None, payload)
        facts = message_facts(message)  # once for every receiver's events
        return [self._courier.exchange(message, name, topic, facts=facts) for name in receivers]

    # ---------------------------------------------------------------------- answering
    def _answer(
        self, run: ChaosRun | None, exchange: Exchange, waiter: Waiter, timeout: float
    ) -> Message:
        """The reply a request waited for, or the error that says why there is none."""
        waiter.close()
        if waiter.reply is not None:
            return waiter.reply
        header = exchange.message.header
        what = f"{header.type.value} {header.message_id}"
        if waiter.error is not None:
            raise DeliveryError(
                f"{exchange.receiver!r} failed handling {what}: {describe(waiter.error)}"
            ) from waiter.error
        if run is not None and run.cancelled.is_set():
            # The run ended (the test is over): stop waiting, and record nothing after its end.
            raise DeliveryTimeout(
                f"the chaos run ended before {exchange.receiver!r} replied to {what}",
                message_id=header.message_id,
                receiver=exchange.receiver,
                fault_id=exchange.trace[0].fault_id if exchange.trace else None,
            )
        reason = f"no reply from {exchange.receiver!r} to {what} within {timeout:g} s"
        if run is not None:
            surface(run, exchange.trace, reason)
            note(run, exchange.sender, "request_timeout", exchange, timeout_s=timeout)
        kinds = sorted({firing.spec.kind for firing in exchange.trace})
        raise DeliveryTimeout(
            reason + (f" (message faults on this exchange: {', '.join(kinds)})" if kinds else ""),
            message_id=header.message_id,
            receiver=exchange.receiver,
            fault_id=exchange.trace[0].fault_id if exchange.trace else None,
        )
