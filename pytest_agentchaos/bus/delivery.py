"""How a bus carries one message to its receiver, and the reply back.

The :class:`Courier` sends each :class:`~.exchange.Exchange`: it has the faults plan each
attempt, the dispatcher hand it over, and with ``at_least_once`` waits ``ack_timeout`` for the
acknowledgement (the receiver's handler returned) and redelivers up to ``max_redeliveries``
times. On the receiving side it checks a corrupted message's contract, calls the handler, makes
the link's earlier faults good once the true message reached its intended receiver, and sends
the handler's reply on (to a waiting request, or to the sender's handler).

Sending and delivering are generators of :mod:`~pytest_agentchaos.engine.steps`, written once:
the bus drives them with ``run_sync`` for sync callers and ``run_async`` for async ones, so both
wait alike and both stop waiting when the run is cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import threading
import time
from collections.abc import Awaitable
from typing import Any, cast

from pydantic import ValidationError

from pytest_agentchaos.bus.dispatch import Dispatcher, Launch
from pytest_agentchaos.bus.envelope import reply_message
from pytest_agentchaos.bus.exchange import (
    Attempt,
    Exchange,
    Waiter,
    describe,
    note,
    surface,
    until,
)
from pytest_agentchaos.bus.faults import FaultPlanner
from pytest_agentchaos.bus.routes import Handler, Routes
from pytest_agentchaos.config.bus_options import DeliverySettings
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.steps import Invoke, Signal, Steps, Wait
from pytest_agentchaos.errors import InjectedFault
from pytest_agentchaos.model.protocol import ContractViolation, Message, validate_message
from pytest_agentchaos.model.records import Firing

__all__ = ["Courier"]

#: Named for the public module: that is the logger users configure for the bus.
_log = logging.getLogger("pytest_agentchaos.bus")


class Courier:
    """Carries the messages of one bus: delivery attempts, acknowledgements, replies."""

    def __init__(
        self,
        settings: DeliverySettings,
        routes: Routes,
        planner: FaultPlanner,
        lock: threading.RLock,
    ) -> None:
        self._settings = settings
        self._routes = routes
        self._planner = planner
        self.dispatcher = Dispatcher(lock, self._deliver)

    def exchange(
        self,
        message: Message,
        receiver: str,
        topic: str | None,
        *,
        waiter: Waiter | None = None,
        sink: Waiter | None = None,
        trace: list[Firing] | None = None,
        is_reply: bool = False,
        facts: tuple[str, str, str] | None = None,
    ) -> Exchange:
        """A new exchange of ``message`` with ``receiver`` (acknowledged if at_least_once)."""
        return Exchange(
            message,
            receiver,
            topic,
            f"{message.header.sender}->{receiver}",
            trace if trace is not None else [],
            Signal() if self._settings.delivery == "at_least_once" else None,
            waiter,
            sink,
            is_reply,
            facts=facts,
        )

    # -------------------------------------------------------------------------- sending
    def transmit(
        self,
        run: ChaosRun | None,
        exchange: Exchange,
        launch: Launch,
        deadline: float | None = None,
    ) -> Steps[None]:
        """Send ``exchange`` (delivered inline unless delayed), redelivering while unacknowledged.

        The wait for an acknowledgement ends early when the run is cancelled: no redelivery.
        """
        attempt = self._first_attempt(run, exchange)
        while True:
            yield from self.dispatcher.dispatch(attempt, launch)
            acked = exchange.acked
            if acked is None:
                return
            woke = yield Wait(self._settings.ack_timeout, until(acked, run))
            if woke or not self._redeliver(attempt, deadline):
                return
            attempt = self._planner.plan(run, exchange)

    def _first_attempt(self, run: ChaosRun | None, exchange: Exchange) -> Attempt:
        """The first attempt at ``exchange``, its ``message_sent`` event recorded before it.

        When no fault can act on the attempt, nothing is recorded between the two: the event
        waits on the attempt (``unsent``) to be recorded with its delivery's under one lock.
        """
        if run is None:
            return Attempt(exchange, None, exchange.receiver)
        if self._planner.quiet(run):
            return Attempt(exchange, run, exchange.receiver, unsent=True)
        run.record(exchange.sender, "message_sent", None, exchange.payload())
        return self._planner.plan_armed(run, exchange)

    def _redeliver(self, attempt: Attempt, deadline: float | None) -> bool:
        """No acknowledgement came: surface what acted on the attempt; whether to try again."""
        exchange, run = attempt.exchange, attempt.run
        if run is not None:
            reason = f"no ack from {attempt.receiver} within {self._settings.ack_timeout:g} s"
            surface(run, attempt.firings, reason)
        over = deadline is not None and time.monotonic() >= deadline
        if exchange.attempt >= self._settings.max_redeliveries or over or self.dispatcher.closed:
            attempts = exchange.attempt + 1
            note(run, exchange.sender, "message_undelivered", exchange, attempts=attempts)
            return False
        exchange.attempt += 1
        fault_id = attempt.first_fault_id
        note(
            run,
            exchange.sender,
            "message_redelivered",
            exchange,
            fault_id,
            attempt=exchange.attempt,
        )
        return True

    # ------------------------------------------------------------------------ receiving
    def _deliver(self, attempt: Attempt, launch: Launch) -> Steps[None]:
        """Hand the attempt (and its duplicates) to the receiver; send its reply on."""
        for copy in range(attempt.copies + 1):
            target = self._open(attempt, copy)
            if target is None:
                continue
            message, handler = target
            try:
                # Called here, not as an Invoke step: most handlers are sync, and a step per
                # delivery is what a bus without faults would pay for nothing.
                result = handler(message)
                if result is not None and inspect.isawaitable(result):
                    # run_async awaits it; run_sync hands it back, to be run to completion.
                    result = yield Invoke(_itself, (result,))
                    if inspect.isawaitable(result):
                        result = _settle(result)
            except Exception as error:
                self._failed(attempt, message, error)
                continue
            reply = self._handled(attempt, message, result)
            if reply is not None:
                yield from self.transmit(attempt.run, reply, launch)

    def _open(self, attempt: Attempt, copy: int) -> tuple[Message, Handler] | None:
        """The message as the receiver sees it and who handles it; ``None`` if it goes no
        further (rejected by the contract check, nobody to receive it)."""
        exchange, run = attempt.exchange, attempt.run
        message = exchange.message
        if attempt.wire is not None:
            checked = self._check_wire(attempt)
            if checked is None:
                return None
            message = checked
        handler = self._handler(attempt)
        if handler is None:
            return None
        if run is None:
            return message, handler
        if attempt.unsent:  # no fault acted on it: sent and delivered, under one lock
            attempt.unsent = False
            run.record_delivery(*exchange.delivered_quietly())
            return message, handler
        payload = exchange.payload(exchange.attempt)
        if copy:
            payload["copy"] = copy
        if attempt.receiver != exchange.receiver:
            payload["delivered_to"] = attempt.receiver
        run.record(attempt.receiver, "message_delivered", None, payload)
        return message, handler

    def _send_unsent(self, attempt: Attempt) -> None:
        """Record the attempt's ``message_sent`` event if it still waits: before any other."""
        run, exchange = attempt.run, attempt.exchange
        if attempt.unsent and run is not None:
            attempt.unsent = False
            run.record(exchange.sender, "message_sent", None, exchange.payload())

    def _handler(self, attempt: Attempt) -> Handler | None:
        """Who takes the attempt: a waiting request (for a reply) or the receiver's handler."""
        exchange, run = attempt.exchange, attempt.run
        sink = exchange.sink
        if sink is not None and attempt.receiver == exchange.receiver:
            if sink.claim():
                return sink.put
            self._send_unsent(attempt)
            if sink.claimed:  # a duplicate's or a redelivery's reply: the first one was taken
                reason = "the request already has its reply"
                note(run, attempt.receiver, "reply_unclaimed", exchange, reason=reason)
            else:
                note(run, attempt.receiver, "reply_unclaimed", exchange)  # the request timed out
            if exchange.acked is not None:
                exchange.acked.set()
            return None
        handler = self._routes.handler_of(attempt.receiver, exchange.topic)
        if handler is None:
            self._send_unsent(attempt)
            reason = f"no agent is registered as {attempt.receiver!r}"
            fid = attempt.first_fault_id
            note(run, exchange.sender, "message_dropped", exchange, fid, reason=reason)
        return handler

    def _check_wire(self, attempt: Attempt) -> Message | None:
        """The receiver's contract check of a corrupted message."""
        run, firing = attempt.run, attempt.corrupt
        assert run is not None
        assert firing is not None
        try:
            if self._settings.validate:
                return validate_message(cast(Any, attempt.wire))
            return Message.model_validate(attempt.wire)
        except (ContractViolation, ValidationError) as error:
            reason = error.reason if isinstance(error, ContractViolation) else str(error)
            receiver, fid = attempt.receiver, firing.fault_id
            exchange = attempt.exchange
            note(run, receiver, "message_rejected", exchange, fid, at="receive", reason=reason)
            surface(run, [firing], f"contract check at {receiver}: {reason}")
            return None

    def _failed(self, attempt: Attempt, message: Message, error: Exception) -> None:
        """The handler raised: the faults on this attempt surfaced; a request fails."""
        exchange, run = attempt.exchange, attempt.run
        header = message.header
        _log.warning(
            "agent %r raised handling %s %s: %s",
            attempt.receiver,
            header.type.value,
            header.message_id,
            describe(error),
        )
        note(run, attempt.receiver, "message_failed", exchange, error=describe(error))
        if run is not None:
            what = f"{type(error).__name__} handling {header.type.value}"
            surface(run, attempt.firings, f"{attempt.receiver} raised {what}")
            if not isinstance(error, InjectedFault):
                # A handler's own check failing also catches corrupted values handed on
                # earlier, as an agent call raising does (DESIGN: any agent or protocol check).
                run.detect(f"{attempt.receiver} raised {what}")
        if exchange.waiter is not None:
            exchange.waiter.fail(error)

    def _handled(self, attempt: Attempt, message: Message, result: object) -> Exchange | None:
        """The handler returned: acknowledge, make earlier faults good, route its reply."""
        exchange, run = attempt.exchange, attempt.run
        if exchange.acked is not None:  # a wrong receiver acknowledges too: the sender can't tell
            exchange.acked.set()
        # Only the intended receiver getting the true message makes the link's faults good
        # (and until something fired in the run, there is nothing to make good).
        if (
            run is not None
            and run.firings
            and attempt.wire is None
            and attempt.receiver == exchange.receiver
        ):
            run.complete(exchange.link)
            self._planner.heal(run, exchange.sender, attempt.receiver)
        if result is None:
            return None
        return self._reply(attempt, message, result)

    def _reply(self, attempt: Attempt, message: Message, result: object) -> Exchange | None:
        """The exchange that carries the handler's ``result`` back; ``None`` if none does."""
        exchange, run = attempt.exchange, attempt.run
        if exchange.is_reply:
            reason = "a reply to a reply is not sent"
            note(run, attempt.receiver, "reply_unclaimed", exchange, reason=reason)
            return None
        try:
            validate = self._settings.validate
            reply = reply_message(message, result, attempt.receiver, validate=validate)
        except ContractViolation as error:
            reason = error.reason
            note(run, attempt.receiver, "message_rejected", exchange, at="reply", reason=reason)
            if exchange.waiter is not None:
                exchange.waiter.fail(error)
            return None
        receiver = reply.header.receiver
        if exchange.waiter is None and not self._routes.is_registered(receiver):
            reason = f"{receiver!r}, who sent {exchange.message.header.message_id}, has no handler"
            note(run, attempt.receiver, "reply_unclaimed", exchange, reason=reason)
            return None
        return self.exchange(
            reply, receiver, None, sink=exchange.waiter, trace=exchange.trace, is_reply=True
        )


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


def _itself(value: object) -> object:
    return value
