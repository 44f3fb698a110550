"""A run's log as the engine keeps it: events, and the commonest pairs of them as one record.

Most of a run's log is agent calls that started, ran and ended with nothing else happening to
them. The engine keeps such a call as one :data:`CallRecord` ``(start_ns, end_ns, agent,
number)``, appended when the call ends, instead of a ``call_start`` and a ``call_end`` event:
a third less memory per call, and no lock (``list.append`` is atomic). Likewise a message
delivery no fault acted on is one :data:`DeliveryRecord` for its ``message_sent`` and
``message_delivered`` events, their payloads built only when the events are read or written.
Every other event stays an :data:`EventTuple`, appended (and stamped) under the run's lock.

The log is therefore in time order by each record's *last* timestamp, but for a call record
another thread appended a moment late; a call's start may lie before events appended ahead of
it (a nested call, another thread's event). :func:`events` restores the event stream with both
events of each call in time order, and the store keeps a log that needs no reordering
(:func:`in_order`, the common case) without building that stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "CALL_END",
    "CALL_START",
    "MESSAGE_DELIVERED",
    "MESSAGE_SENT",
    "CallRecord",
    "DeliveryRecord",
    "EventTuple",
    "LogRecord",
    "delivery_events",
    "message_payload",
    "events",
    "in_order",
]

#: An event: (monotonic ns, agent, kind, fault id, payload). Its sequence number is its place
#: in the run's event stream; payloads are encoded when the run is written.
EventTuple = tuple[int, str, str, str | None, Any]
#: A completed call: (start ns, end ns, agent, call number). It stands for a ``call_start``
#: and a ``call_end`` event whose payload is the call number.
CallRecord = tuple[int, int, str, int]
#: A delivery no fault acted on: (ns, sender, receiver, message id, message type, topic). It
#: stands for a ``message_sent`` and a ``message_delivered`` event (attempt 0) at that time.
DeliveryRecord = tuple[int, str, str, str, str, str | None]
LogRecord = EventTuple | CallRecord | DeliveryRecord

CALL_START, CALL_END = "call_start", "call_end"
MESSAGE_SENT, MESSAGE_DELIVERED = "message_sent", "message_delivered"


def message_payload(
    message_id: str,
    message_type: str,
    sender: str,
    receiver: str,
    topic: str | None,
    attempt: int | None = None,
) -> dict[str, Any]:
    """What an event about a message delivery says: the message's id, type, sender, receiver,
    its topic if published, and the ``attempt`` when given. A new dict each time, for the
    event's own extra fields."""
    data: dict[str, Any] = {
        "id": message_id,
        "type": message_type,
        "sender": sender,
        "receiver": receiver,
    }
    if topic is not None:
        data["topic"] = topic
    if attempt is not None:
        data["attempt"] = attempt
    return data


def delivery_events(record: DeliveryRecord) -> tuple[EventTuple, EventTuple]:
    """The two events a delivery record stands for, payloads as the message bus writes them."""
    ts, sender, receiver, message_id, message_type, topic = record
    sent = message_payload(message_id, message_type, sender, receiver, topic)
    delivered = message_payload(message_id, message_type, sender, receiver, topic, attempt=0)
    return (ts, sender, MESSAGE_SENT, None, sent), (
        ts,
        receiver,
        MESSAGE_DELIVERED,
        None,
        delivered,
    )


def in_order(log: Iterable[LogRecord]) -> bool:
    """Whether expanding each call record in place gives an event stream in time order.

    True unless a call started before something recorded ahead of it ended: calls that nest
    or run on several threads at once. Ties count as in order.
    """
    last = -1
    for record in log:
        if record[0] < last:
            return False
        last = record[1] if len(record) == 4 else record[0]
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
            elif len(record) == 6:
                stream.extend(delivery_events(record))
            else:
                stream.append(record)
        return stream
    keyed: list[tuple[int, int, int, EventTuple]] = []
    for place, record in enumerate(log):
        if len(record) == 4:
            start, end, agent, number = record
            keyed.append((start, 0, -place, (start, agent, CALL_START, None, number)))
            keyed.append((end, 1, place, (end, agent, CALL_END, None, number)))
        elif len(record) == 6:
            keyed.extend((record[0], 1, place, event) for event in delivery_events(record))
        else:
            keyed.append((record[0], 1, place, record))
    keyed.sort()  # each place is used once per rank: the events themselves are never compared
    return [item[3] for item in keyed]
