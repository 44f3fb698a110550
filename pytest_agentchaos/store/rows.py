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
EventLogRow = tuple[str, int, int, str, str, str | None, str | None]

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
    remembers which call events found no partner (those go to ``event_log``)."""

    def __init__(self, run_key: int, events: Sequence[EventTuple]) -> None:
        self.run_key = run_key
        self.events = events
        self.unpaired: set[int] = set()

    def call_rows(self) -> Iterator[CallRow]:
        """The ``calls`` rows, in the order the calls ended."""
        events, key, unpaired = self.events, self.run_key, self.unpaired
        started: dict[tuple[str, int], int] = {}
        for seq, (ts, agent, kind, _fault, number) in enumerate(events):
            if kind not in _CALL_KINDS:
                continue
            if type(number) is not int:
                unpaired.add(seq)
            elif kind == CALL_START:
                earlier = started.get((agent, number))
                if earlier is not None:
                    unpaired.add(earlier)
                started[agent, number] = seq
            else:
                start = started.pop((agent, number), None)
                if start is None:
                    unpaired.add(seq)
                else:
                    yield key, start, seq, agent, number, events[start][0], ts
        unpaired.update(started.values())

    def event_rows(self, run_id: str) -> Iterator[EventLogRow]:
        """The ``event_log`` rows: every event not in a call row. Run after :meth:`call_rows`."""
        unpaired = self.unpaired
        for seq, (ts, agent, kind, fault_id, payload) in enumerate(self.events):
            if kind in _CALL_KINDS and seq not in unpaired:
                continue
            yield run_id, seq, ts, agent, kind, fault_id, encode_payload(payload)
