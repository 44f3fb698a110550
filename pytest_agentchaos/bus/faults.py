"""What the message faults do to each delivery attempt on a bus.

For every attempt on a link ``sender->receiver`` the :class:`FaultPlanner` asks the run's seeded
schedule whether each armed message fault that selects it fires (counting attempts per fault
and link, so ``at_call`` is the n-th attempt on that link), records the firings and marks the
attempt lost, misrouted, corrupted (:func:`garble`), duplicated, delayed or held. It also keeps
the run's partitions: who is cut off until when, and who has healed.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from pytest_agentchaos.bus.exchange import Attempt, Exchange, note
from pytest_agentchaos.bus.routes import Routes
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.corruption import Corruption, hallucinate
from pytest_agentchaos.model.faults import (
    MessageCorruptFault,
    MessageDelayFault,
    MessageDropFault,
    MessageDuplicateFault,
    MessageFault,
    MessageReorderFault,
    PartitionFault,
    WrongHandoffFault,
)
from pytest_agentchaos.model.kinds import Site, kinds_acting_on
from pytest_agentchaos.model.protocol import Message
from pytest_agentchaos.model.records import Firing

__all__ = ["MESSAGE_FAULT_KINDS", "FaultPlanner", "garble"]

#: The order in which faults act on one delivery: a message lost to a partition or a drop is not
#: also corrupted (that corruption could never surface and would count as silent).
FAULT_ORDER: dict[str, int] = {
    "partition": 0,
    "message_drop": 1,
    "wrong_handoff": 2,
    "message_corrupt": 3,
    "message_duplicate": 4,
    "message_delay": 5,
    "message_reorder": 6,
}
MESSAGE_FAULT_KINDS = kinds_acting_on(Site.MESSAGE)
if frozenset(FAULT_ORDER) != MESSAGE_FAULT_KINDS:  # pragma: no cover - a kind with no place
    raise AssertionError("FAULT_ORDER must place every message fault kind")


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


# --------------------------------------------------------------------------- run state
#: An armed fault selecting a delivery: (schedule index, spec, kind, whether it picks another
#: receiver). A partition in force needs no such check: it already cut this delivery off.
Selected: TypeAlias = tuple[int, MessageFault, str, bool]


@dataclass
class RunState:
    """The bus's bookkeeping for one chaos run: counters, partitions, which faults select what."""

    counts: dict[tuple[int, str], int] = field(default_factory=dict)
    partitions: dict[str, tuple[int, Firing]] = field(default_factory=dict)
    healed: dict[str, list[Firing]] = field(default_factory=dict)
    armed_count: int = -1
    specs: list[tuple[int, MessageFault]] = field(default_factory=list)
    selected: dict[tuple[str, str, str], list[Selected]] = field(default_factory=dict)

    def selecting(
        self, run: ChaosRun, sender: str, receiver: str, message_type: str
    ) -> list[Selected]:
        """The armed message faults that select this delivery, in the order they act."""
        count = run.fault_count
        if count != self.armed_count:  # a fault may be armed mid-test (agentchaos.inject)
            self.armed_count = count
            # A fault at probability 0 never fires: it is left out, so that a delivery pays
            # nothing for it (its attempt count only ever feeds its own decisions).
            self.specs = sorted(
                (
                    (i, s)
                    for i, s in run.armed(MESSAGE_FAULT_KINDS)
                    if isinstance(s, MessageFault) and s.probability > 0
                ),
                key=lambda item: (FAULT_ORDER[item[1].kind], item[0]),
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


def _selects(spec: MessageFault, sender: str, receiver: str, message_type: str) -> bool:
    """Whether ``spec`` selects this delivery; a ``target`` other than ``*`` names either end."""
    return spec.matches_message(sender, receiver, message_type) and (
        spec.target == "*" or spec.matches(sender) or spec.matches(receiver)
    )


# ----------------------------------------------------------------------------- planning
class FaultPlanner:
    """Decides what the faults of the current run do to each delivery attempt of one bus."""

    def __init__(self, lock: threading.RLock, routes: Routes) -> None:
        self._lock = lock
        self._routes = routes  # a wrong handoff picks another of their receivers
        self._run: ChaosRun | None = None
        self._state = RunState()

    def plan(self, run: ChaosRun | None, exchange: Exchange) -> Attempt:
        """Decide, from the run's seeded schedule, what the faults do to this attempt."""
        if run is None or self.quiet(run):
            return Attempt(exchange, run, exchange.receiver)
        return self.plan_armed(run, exchange)

    def plan_armed(self, run: ChaosRun, exchange: Exchange) -> Attempt:
        """:meth:`plan` for a run known not to be :meth:`quiet`: asks the schedule."""
        attempt = Attempt(exchange, run, exchange.receiver)
        with self._lock:
            if self._run is not run:
                self._run, self._state = run, RunState()
            state = self._state
            header = exchange.message.header
            sender, receiver = header.sender, exchange.receiver
            selected = state.selecting(run, sender, receiver, header.type)
            if state.partitions:
                self._cut_off(run, state, attempt, sender, receiver)
            if selected:
                self._fire(run, state, attempt, selected)
        return attempt

    def quiet(self, run: ChaosRun) -> bool:
        """Whether no fault can act on a delivery in ``run`` now: none that can fire is armed,
        and no partition is in force. The common case, read without the lock (a fault armed by
        another thread just now acts from the next delivery on)."""
        state = self._state
        return (
            self._run is run
            and not state.specs
            and not state.partitions
            and state.armed_count == run.fault_count
        )

    def heal(self, run: ChaosRun, sender: str, receiver: str) -> None:
        """A delivery from ``sender`` to ``receiver`` succeeded: the partitions that cut off
        either of them, healed and surfaced, are made good."""
        if not self._state.healed or self._run is not run:
            return
        with self._lock:
            for agent in (sender, receiver):
                firings = self._state.healed.get(agent)
                if not firings:
                    continue
                if any(f.detected_ns is not None and f.recovered_ns is None for f in firings):
                    run.complete(agent)
                self._state.healed[agent] = [f for f in firings if f.recovered_ns is None]

    def _fire(
        self, run: ChaosRun, state: RunState, attempt: Attempt, selected: list[Selected]
    ) -> None:
        """Count this attempt for every selecting fault; let each kind act at most once."""
        exchange = attempt.exchange
        link = exchange.link
        counts, acted = state.counts, set()
        for index, spec, kind, needs_others in selected:
            key = (index, link)
            number = counts[key] = counts.get(key, 0) + 1
            if attempt.lost or kind in acted:
                continue
            if needs_others and not self._routes.has_others(
                exchange.topic, exchange.sender, exchange.receiver
            ):
                continue  # nobody else to hand it to: a wrong handoff cannot act here
            if run.decide(index, link, number):
                self._act(run, state, attempt, spec, number)
                acted.add(kind)

    def _cut_off(
        self, run: ChaosRun, state: RunState, attempt: Attempt, sender: str, receiver: str
    ) -> None:
        """Lose the attempt if a partition in force cuts off either end; heal the expired."""
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
            note(run, sender, "message_dropped", exchange, firing.fault_id, reason=reason)
            return

    def _cut_agent(self, attempt: Attempt, spec: PartitionFault) -> str:
        """The agent a partition cuts off: the receiver, unless ``target`` names only the sender."""
        sender, receiver = attempt.exchange.sender, attempt.exchange.receiver
        if spec.target != "*" and not spec.matches(receiver) and spec.matches(sender):
            return sender
        return receiver

    def _others(self, attempt: Attempt) -> list[str]:
        exchange = attempt.exchange
        return [
            name
            for name in self._routes.receivers(exchange.topic)
            if name not in (exchange.sender, exchange.receiver)
        ]

    def _act(
        self, run: ChaosRun, state: RunState, attempt: Attempt, spec: MessageFault, number: int
    ) -> None:
        """``spec`` fired on this delivery attempt: record it and do what it does."""
        exchange = attempt.exchange
        target = (
            self._cut_agent(attempt, spec) if isinstance(spec, PartitionFault) else exchange.link
        )
        firing = run.fire(spec, target, number)
        attempt.firings.append(firing)
        exchange.trace.append(firing)
        if isinstance(spec, PartitionFault):
            _partition(run, state, attempt, spec, firing)
        elif isinstance(spec, WrongHandoffFault):
            to = spec.to if spec.to is not None else run.rng(firing).choice(self._others(attempt))
            attempt.receiver = to
            firing.detail["delivered_to"] = to
            note(run, to, "message_misrouted", exchange, firing.fault_id)
        elif isinstance(spec, MessageCorruptFault):
            _corrupt(run, attempt, spec, firing)
        else:
            _disturb(run, attempt, spec, firing)


def _partition(
    run: ChaosRun, state: RunState, attempt: Attempt, spec: PartitionFault, firing: Firing
) -> None:
    """Cut off ``firing.target`` for ``spec.duration`` seconds, this attempt first."""
    exchange, target, fid = attempt.exchange, firing.target, firing.fault_id
    state.partitions[target] = (firing.injected_ns + int(spec.duration * 1e9), firing)
    firing.detail["link"] = exchange.link
    run.record(
        target, "partition_started", fid, {"duration_s": spec.duration, "link": exchange.link}
    )
    attempt.lost = True
    reason = f"partition: {target} is cut off"
    note(run, exchange.sender, "message_dropped", exchange, fid, reason=reason)


def _corrupt(run: ChaosRun, attempt: Attempt, spec: MessageCorruptFault, firing: Firing) -> None:
    """Deliver a garbled serialized form of the message instead of the message."""
    exchange = attempt.exchange
    attempt.wire, firing.corruption = garble(exchange.message, spec.field, run.rng(firing))
    attempt.corrupt = firing
    firing.detail["path"] = path = firing.corruption.path
    run.corrupted(firing)
    note(run, exchange.sender, "message_corrupted", exchange, firing.fault_id, path=path)


def _disturb(run: ChaosRun, attempt: Attempt, spec: MessageFault, firing: Firing) -> None:
    """Drop, duplicate, delay or hold (to reorder) the message."""
    exchange, fid = attempt.exchange, firing.fault_id
    sender = exchange.sender
    if isinstance(spec, MessageDropFault):
        attempt.lost = True
        note(run, sender, "message_dropped", exchange, fid, reason="message_drop")
    elif isinstance(spec, MessageDuplicateFault):
        attempt.copies = spec.copies
        note(run, sender, "message_duplicated", exchange, fid, copies=spec.copies)
    elif isinstance(spec, MessageDelayFault):
        attempt.delay_s = spec.seconds
        note(run, sender, "message_delayed", exchange, fid, seconds=spec.seconds)
    elif isinstance(spec, MessageReorderFault):
        attempt.hold = True
        note(run, sender, "message_held", exchange, fid)
