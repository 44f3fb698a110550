"""A run's log as the engine keeps it: events, and completed calls as one record each.

Most of a run's log is agent calls that started, ran and ended with nothing else happening to
them. The engine keeps such a call as one :data:`CallRecord` ``(start_ns, end_ns, agent,
number)``, appended when the call ends, instead of a ``call_start`` and a ``call_end`` event:
a third less memory per call and one lock instead of two. Every other event stays an
:data:`EventTuple`, appended (and stamped) under the run's lock.

The log is therefore in time order by each record's *last* timestamp; a call's start may lie
before events appended ahead of it (a nested call, another thread's event). :func:`events`
restores the event stream with both events of each call in time order, and the store keeps a
log that needs no reordering (:func:`in_order`, the common case) without building that stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "CALL_END",
    "CALL_START",
    "CallRecord",
    "EventTuple",
    "LogRecord",
    "event_count",
    "events",
    "in_order",
]

#: An event: (monotonic ns, agent, kind, fault id, payload). Its sequence number is its place
#: in the run's event stream; payloads are encoded when the run is written.
EventTuple = tuple[int, str, str, str | None, Any]
#: A completed call: (start ns, end ns, agent, call number). It stands for a ``call_start``
#: and a ``call_end`` event whose payload is the call number.
CallRecord = tuple[int, int, str, int]
LogRecord = EventTuple | CallRecord

CALL_START, CALL_END = "call_start", "call_end"


def in_order(log: Iterable[LogRecord]) -> bool:
    """Whether expanding each call record in place gives an event stream in time order.

    True unless a call started before something recorded ahead of it ended: calls that nest
    or run on several threads at once. Ties count as in order.
    """
    last = -1
    for record in log:
        if len(record) == 4:
            if record[0] < last:
                return False
            last = record[1]
        else:
            if record[0] < last:
                return False
            last = record[0]
    return True


def events(log: Sequence[LogRecord]) -> list[EventTuple]:
    """The run's event stream, each call record as its two events, in time order.

    Events with the same timestamp keep the order they were recorded in, except that a call's
    start comes before anything else stamped at the same nanosecond (it began first); of two
    calls starting at one instant, the one that ended later (the outer) starts first.
    """
    stream: list[EventTuple] = []
    if in_order(log):
        for record in log:
            if len(record) == 4:
                start, end, agent, number = record
                stream.append((start, agent, CALL_START, None, number))
                stream.append((end, agent, CALL_END, None, number))
            else:
                stream.append(record)
        return stream
    keyed: list[tuple[int, int, int, EventTuple]] = []
    for place, record in enumerate(log):
        if len(record) == 4:
            start, end, agent, number = record
            keyed.append((start, 0, -place, (start, agent, CALL_START, None, number)))
            keyed.append((end, 1, place, (end, agent, CALL_END, None, number)))
        else:
            keyed.append((record[0], 1, place, record))
    keyed.sort(key=_order)
    return [item[3] for item in keyed]


def _order(item: tuple[int, int, int, EventTuple]) -> tuple[int, int, int]:
    return item[0], item[1], item[2]


def event_count(log: Iterable[LogRecord]) -> int:
    """How many events the log stands for (a call record is two)."""
    return sum(2 if len(record) == 4 else 1 for record in log)
