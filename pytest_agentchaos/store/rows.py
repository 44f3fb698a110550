"""A run's events as SQLite rows, streamed: one ``calls`` row per completed call, one
``event_log`` row per other event.

The generators feed ``executemany`` directly, so a run with a million events never has a
second, encoded copy of its log in memory. A call's ``call_start`` and ``call_end`` become one
row when both are there with the same agent and call number; anything else (a call that raised,
a start recorded twice) stays two events, exactly as recorded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pytest_agentchaos.model.records import EventTuple
from pytest_agentchaos.store.migrations import CALL_END, CALL_START

CallRow = tuple[int, int, int, str, int, int, int]
EventLogRow = tuple[int, int, int, str, str, str | None, str | None]

_CALL_KINDS = frozenset({CALL_START, CALL_END})


def encode_payload(payload: Any) -> str | None:
    """A payload as the JSON text the store keeps (``None`` stays NULL)."""
    if payload is None:
        return None
    if type(payload) is int:
        return str(payload)
    return json.dumps(payload, separators=(",", ":"), default=str)


class CallPairing:
    """Pairs each ``call_start`` with its ``call_end`` while the call rows stream out, and
    remembers which events are left for ``event_log`` (by their order in the log)."""

    def __init__(self, run_key: int, events: Sequence[EventTuple]) -> None:
        self.run_key = run_key
        self.events = events
        self.rest: list[int] = []  # events that are no call event, in order
        self.unpaired: set[int] = set()  # call events without their partner

    def call_rows(self) -> Iterator[CallRow]:
        """The ``calls`` rows, in the order the calls ended."""
        events, key, rest, unpaired = self.events, self.run_key, self.rest, self.unpaired
        started: dict[tuple[str, int], int] = {}
        # Most calls end before anything else is recorded: such a start waits here, not in
        # `started`, so the common pair costs no dict operation.
        last: tuple[int, str, int] | None = None
        for seq, (ts, agent, kind, _fault, number) in enumerate(events):
            if kind not in _CALL_KINDS:
                rest.append(seq)
                continue
            if type(number) is not int:
                unpaired.add(seq)
                continue
            if last is not None:
                start, last_agent, last_number = last
                last = None
                if kind == CALL_END and last_number == number and last_agent == agent:
                    yield key, start, seq, agent, number, events[start][0], ts
                    continue
                _remember(started, unpaired, last_agent, last_number, start)
            if kind == CALL_START:
                last = (seq, agent, number)
                continue
            start_seq = started.pop((agent, number), None)
            if start_seq is None:
                unpaired.add(seq)
            else:
                yield key, start_seq, seq, agent, number, events[start_seq][0], ts
        if last is not None:
            unpaired.add(last[0])
        unpaired.update(started.values())

    def event_rows(self) -> Iterator[EventLogRow]:
        """The ``event_log`` rows: every event not in a call row. Run after :meth:`call_rows`."""
        events, key = self.events, self.run_key
        for seq in sorted(self.unpaired.union(self.rest)) if self.unpaired else self.rest:
            ts, agent, kind, fault_id, payload = events[seq]
            yield key, seq, ts, agent, kind, fault_id, encode_payload(payload)


def _remember(
    started: dict[tuple[str, int], int], unpaired: set[int], agent: str, number: int, seq: int
) -> None:
    """Keep a call's start until its end comes; a start recorded twice leaves the first alone."""
    earlier = started.get((agent, number))
    if earlier is not None:
        unpaired.add(earlier)
    started[agent, number] = seq
