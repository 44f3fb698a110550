"""A run's log as SQLite rows, streamed: call batches, call rows and event rows.

A run's log (:mod:`pytest_agentchaos.model.log`) is mostly completed calls, each one record.
Consecutive ones become one ``call_batches`` row: their records as one JSON array, which
SQLite stores for a fraction of what a row per call costs and expands again in the ``calls``
and ``events`` views. A call recorded as two events (its start detected something, a fault
fired at it) is one ``call_rows`` row when both events are there with the same agent and call
number; anything else (a call that raised, a start recorded twice) stays two events in
``event_log``, exactly as recorded, as do the two events of a delivery record.

The generators feed ``executemany`` directly, so a run with a million calls never has a second,
encoded copy of its log in memory: one batch of JSON at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_agentchaos.model.log import (
    CALL_END,
    CALL_START,
    EventTuple,
    LogRecord,
    delivery_events,
    events,
    in_order,
)

CallRow = tuple[int, int, int, str, int, int, int]
EventLogRow = tuple[int, int, int, str, str, str | None, str | None]
BatchRow = tuple[int, int, str]

#: Calls per ``call_batches`` row: big enough that a row's fixed cost vanishes, small enough
#: that encoding one batch at a time keeps a huge run's JSON small.
BATCH_CALLS = 1000

_CALL_KINDS = frozenset({CALL_START, CALL_END})
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_encode_calls = json.JSONEncoder(separators=(",", ":")).encode


def encode_payload(payload: Any) -> str | None:
    """A payload as the JSON text the store keeps (``None`` stays NULL)."""
    if payload is None:
        return None
    if type(payload) is int:
        return str(payload)
    return _encode(payload)


def prepared(log: Sequence[LogRecord]) -> list[LogRecord]:
    """A copy of ``log`` whose events carry their payload as the JSON text the store keeps (a
    delivery record as its two events): plain data that ``marshal`` can write to a journal,
    fixed now whatever the payload's objects do later."""
    encoded: list[LogRecord] = []
    for record in log:
        if len(record) == 5:
            encoded.append((*record[:4], encode_payload(record[4])))
        elif len(record) == 6:
            encoded.extend((*e[:4], encode_payload(e[4])) for e in delivery_events(record))
        else:
            encoded.append(record)
    return encoded


def _as_is(payload: Any) -> Any:
    return payload


class LogRows:
    """Gives each record of a run's log its sequence numbers and sorts it into the three
    kinds of row. Read :meth:`batch_rows`, then :meth:`call_rows`, then :meth:`event_rows`."""

    def __init__(self, run_key: int, log: Sequence[LogRecord], *, encoded: bool = False) -> None:
        """``encoded``: the events' payloads are JSON text already (:func:`prepared`)."""
        self.run_key = run_key
        self._encode = _as_is if encoded else encode_payload
        # A log that needs reordering (calls that nested or ran on several threads at once)
        # is written as its event stream: correct, one row per call, and rare.
        self.log = log if in_order(log) else events(log)
        self._batches: list[tuple[int, int, int]] = []  # (first record, end record, first seq)
        self._events: list[tuple[int, EventTuple]] = []  # (seq, event)
        self._number()
        self._pairing = CallPairing(self._events)

    def _number(self) -> None:
        seq, open_at, first_seq, batches, rest = 0, -1, 0, self._batches, self._events
        for place, record in enumerate(self.log):
            if len(record) == 4:
                if open_at < 0:
                    open_at, first_seq = place, seq
                elif place - open_at == BATCH_CALLS:
                    batches.append((open_at, place, first_seq))
                    open_at, first_seq = place, seq
                seq += 2
                continue
            if open_at >= 0:
                batches.append((open_at, place, first_seq))
                open_at = -1
            if len(record) == 6:
                sent, delivered = delivery_events(record)
                rest += ((seq, sent), (seq + 1, delivered))
                seq += 2
                continue
            rest.append((seq, record))
            seq += 1
        if open_at >= 0:
            batches.append((open_at, len(self.log), first_seq))
        self.event_count = seq

    def batch_rows(self) -> Iterator[BatchRow]:
        """The ``call_batches`` rows: consecutive call records as one JSON array each."""
        log, key = self.log, self.run_key
        for start, stop, first_seq in self._batches:
            yield key, first_seq, _encode_calls(log[start:stop])

    def call_rows(self) -> Iterator[CallRow]:
        """The ``call_rows`` rows: calls recorded as a start and an end event."""
        key = self.run_key
        for seq, end_seq, agent, number, start_ns, end_ns in self._pairing.pairs():
            yield key, seq, end_seq, agent, number, start_ns, end_ns

    def event_rows(self) -> Iterator[EventLogRow]:
        """The ``event_log`` rows: every event not in a call row. Read after :meth:`call_rows`."""
        key, encode = self.run_key, self._encode
        for seq, (ts, agent, kind, fault_id, payload) in self._pairing.rest():
            yield key, seq, ts, agent, kind, fault_id, encode(payload)


class CallPairing:
    """Pairs each ``call_start`` event with its ``call_end`` while the pairs stream out, and
    remembers which events are left over (by their place among ``items``)."""

    def __init__(self, items: Sequence[tuple[int, EventTuple]]) -> None:
        self.items = items  # (seq, event), in order
        self.left: list[int] = []  # places of events that are no call event
        self.unpaired: set[int] = set()  # places of call events without their partner

    def pairs(self) -> Iterator[tuple[int, int, str, int, int, int]]:
        """``(seq, end_seq, agent, number, start_ns, end_ns)`` of each pair, in end order."""
        items, left, unpaired = self.items, self.left, self.unpaired
        started: dict[tuple[str, int], int] = {}
        # Most calls end before anything else is recorded: such a start waits here, not in
        # `started`, so the common pair costs no dict operation.
        last: tuple[int, str, int] | None = None
        for place, (seq, (ts, agent, kind, _fault, number)) in enumerate(items):
            if kind not in _CALL_KINDS:
                left.append(place)
                continue
            if type(number) is not int:
                unpaired.add(place)
                continue
            if last is not None:
                start, last_agent, last_number = last
                last = None
                if kind == CALL_END and last_number == number and last_agent == agent:
                    start_seq, (start_ns, *_) = items[start]
                    yield start_seq, seq, agent, number, start_ns, ts
                    continue
                _remember(started, unpaired, last_agent, last_number, start)
            if kind == CALL_START:
                last = (place, agent, number)
                continue
            start_place = started.pop((agent, number), None)
            if start_place is None:
                unpaired.add(place)
            else:
                start_seq, (start_ns, *_) = items[start_place]
                yield start_seq, seq, agent, number, start_ns, ts
        if last is not None:
            unpaired.add(last[0])
        unpaired.update(started.values())

    def rest(self) -> Iterator[tuple[int, EventTuple]]:
        """``(seq, event)`` of every event not in a pair. Run after :meth:`pairs`."""
        items = self.items
        places = sorted(self.unpaired.union(self.left)) if self.unpaired else self.left
        for place in places:
            yield items[place]


def _remember(
    started: dict[tuple[str, int], int], unpaired: set[int], agent: str, number: int, place: int
) -> None:
    """Keep a call's start until its end comes; a start recorded twice leaves the first alone."""
    earlier = started.get((agent, number))
    if earlier is not None:
        unpaired.add(earlier)
    started[agent, number] = place
