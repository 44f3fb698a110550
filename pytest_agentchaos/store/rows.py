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

import orjson

from pytest_agentchaos.model.log import (
    CALL_END,
    CALL_START,
    EventTuple,
    LogRecord,
    delivery_events,
    events,
)

#: Rows without the run's key: (seq, JSON array), (seq, end_seq, agent, number, start_ns,
#: end_ns) and (seq, ts_ns, agent, kind, fault id, payload JSON).
BatchRow = tuple[int, str]
CallRow = tuple[int, int, str, int, int, int]
EventLogRow = tuple[int, int, str, str, str | None, str | None]

#: Calls per ``call_batches`` row: big enough that a row's fixed cost vanishes, small enough
#: that encoding one batch at a time keeps a huge run's JSON small.
BATCH_CALLS = 1000

_CALL_KINDS = frozenset({CALL_START, CALL_END})
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def _encode_calls(records: Sequence[LogRecord]) -> str:
    # orjson, not json: encoding a batch was half of what a call cost the store (45 µs against
    # 6.5 µs for 100 calls). Calls hold only ints and str, which both write alike (orjson
    # leaves non-ASCII unescaped: the same JSON to SQLite).
    return orjson.dumps(records).decode()


def encode_payload(payload: Any) -> str | None:
    """A payload as the JSON text the store keeps (``None`` stays NULL)."""
    if payload is None:
        return None
    if type(payload) is int:
        return str(payload)
    return _encode(payload)


class LogRows:
    """Gives each record of a run's log its sequence numbers and sorts it into the three
    kinds of row, without the run's key (the store adds it when it inserts them).

    Read :meth:`batch_rows`, then :meth:`call_rows`, then :meth:`event_rows`.
    """

    def __init__(self, log: Sequence[LogRecord]) -> None:
        self.log = log
        self._batches: list[tuple[int, int, int]] = []  # (first record, end record, first seq)
        self._events: list[tuple[int, EventTuple]] = []  # (seq, event)
        if not self._number():
            # A log that needs reordering (calls that nested or ran on several threads at
            # once) is written as its event stream: correct, one row per call, and rare.
            self.log = events(log)
            self._batches.clear()
            self._events.clear()
            self._number()
        self._pairing = CallPairing(self._events)

    def _number(self) -> bool:
        """Number the records in one pass; ``False`` (and stop) if the log is out of order."""
        seq, open_at, first_seq, last = 0, -1, 0, -1
        batches, rest = self._batches, self._events
        for place, record in enumerate(self.log):
            if record[0] < last:
                return False
            if len(record) == 4:
                last = record[1]
                if open_at < 0:
                    open_at, first_seq = place, seq
                elif place - open_at == BATCH_CALLS:
                    batches.append((open_at, place, first_seq))
                    open_at, first_seq = place, seq
                seq += 2
                continue
            last = record[0]
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
        return True

    def batch_rows(self) -> Iterator[BatchRow]:
        """``call_batches`` rows: consecutive call records as one JSON array each."""
        log = self.log
        for start, stop, first_seq in self._batches:
            yield first_seq, _encode_calls(log[start:stop])

    def call_rows(self) -> Iterator[CallRow]:
        """``call_rows`` rows: calls recorded as a start and an end event."""
        yield from self._pairing.pairs()

    def event_rows(self) -> Iterator[EventLogRow]:
        """``event_log`` rows: every event not in a call row. Read after :meth:`call_rows`."""
        for seq, (ts, agent, kind, fault_id, payload) in self._pairing.rest():
            yield seq, ts, agent, kind, fault_id, encode_payload(payload)


class CallPairing:
    """Pairs each ``call_start`` event with its ``call_end`` while the pairs stream out, and
    remembers which events are left over (by their place among ``items``)."""

    def __init__(self, items: Sequence[tuple[int, EventTuple]]) -> None:
        self.items = items  # (seq, event), in order
        self.left: list[int] = []  # places of events that are no call event
        self.unpaired: set[int] = set()  # places of call events without their partner

    def pairs(self) -> Iterator[CallRow]:
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
