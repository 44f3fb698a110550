"""The contract every event store passes, whatever keeps its rows.

Subclass :class:`EventStoreContract` and give it an ``open_store`` fixture that returns a
function opening (and migrating) the store under test at a path, the same data each time it is
opened at the same path. Only the public interface (:class:`BaseEventStore`) is used here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.model.log import EventTuple, LogRecord, events
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.store.base import BaseEventStore, EventRow, RunRow

OpenStore = Callable[[Path], BaseEventStore]


def run_row(run_id: str, *, session: str = "s1", nodeid: str = "t.py::t", rep: int = 0) -> RunRow:
    return RunRow(
        run_id=run_id,
        session_id=session,
        nodeid=nodeid,
        seed=2**62 + 5,
        repetition=rep,
        condition="chaos",
        outcome="passed",
        started_ns=1_000,
        ended_ns=5_000,
        duration_s=4e-6,
        worker="gw0",
        strategies="retry",
        started_at="2026-01-02T03:04:05.678+00:00",
    )


def fault(run_id: str, n: int, outcome: Outcome = Outcome.RECOVERED, **kw: Any) -> FaultResult:
    values: dict[str, Any] = {
        "fault_id": f"{run_id}#{n}",
        "run_id": run_id,
        "kind": "crash",
        "target": "pricing",
        "params": {"target": "pricing", "at_call": [1], "detail": {"note": "x"}},
        "call_number": 1,
        "injected_ns": 1_000 + n,
        "detected_ns": 2_000 + n,
        "recovered_ns": 4_000 + n,
        "outcome": outcome,
        "strategy": "retry",
        "detected_by": "AgentCrashed in pricing",
        "propagation": 2,
    }
    values.update(kw)
    return FaultResult(**values)


#: Every shape a run's log takes: calls that end, nest, interleave, raise, or repeat a start.
EVENTS: list[EventTuple] = [
    (10, "pricing", "call_start", None, 1),
    (11, "pricing", "fault_injected", "r1#1", {"kind": "crash", "call": 1, "params": {}}),
    (12, "pricing", "fault_detected", "r1#1", "AgentCrashed in pricing"),
    (13, "lead", "call_start", None, 1),  # nested: lead calls pricing inside its call
    (14, "pricing", "call_start", None, 2),
    (15, "pricing", "call_end", None, 2),
    (16, "lead", "call_end", None, 1),
    (17, "pricing", "corruption_received", "r1#1", "offer.price"),
    (18, "pricing", "note", None, [1, 2.5, None, True, "x"]),
    (19, "pricing", "call_end", None, None),  # not a call number: kept as it is
    (20, "pricing", "big", None, 2**62),
    (21, "pricing", "text", None, 'quote " and ünïcode'),
    (22, "pricing", "flag", None, False),
    (23, "pricing", "call_error", None, {"call": 1, "error": "AgentCrashed: x"}),
    (24, "ghost", "call_end", None, 7),  # an end without its start
    (25, "twice", "call_start", None, 1),
    (26, "twice", "call_start", None, 1),  # the same start recorded twice
    (27, "twice", "call_end", None, 1),
    (28, "hung", "call_start", None, 3),  # never ended
]


def calls(count: int) -> list[EventTuple]:
    events: list[EventTuple] = []
    for number in range(1, count + 1):
        events.append((2 * number, "agent", "call_start", None, number))
        events.append((2 * number + 1, "agent", "call_end", None, number))
    return events


def call_records(count: int, agent: str = "agent", first_ts: int = 10) -> list[LogRecord]:
    """A log as the engine keeps it when nothing happens to the calls: one record each."""
    return [
        (first_ts + 3 * number, first_ts + 3 * number + 1, agent, number)
        for number in range(1, count + 1)
    ]


def nested_log() -> list[LogRecord]:
    """Records the engine appends when calls nest and overlap: each call record comes when its
    call ends, after what happened inside it."""
    return [
        (1, "lead", "call_start", None, 1),  # its start was recorded: something fired at it
        (3, 4, "pricing", 1),  # a call inside lead's
        (5, "pricing", "note", None, {"seen": True}),
        (2, 6, "review", 1),  # started before pricing's call, ended after it (another thread)
        (7, "lead", "call_end", None, 1),
        (8, 9, "pricing", 2),
    ]


def interleaved(seed: int, size: int) -> list[EventTuple]:
    """Calls of three agents that nest, interleave, raise and stay open, among other events."""
    rng = random.Random(seed)
    numbers = dict.fromkeys("abc", 0)
    open_calls: list[tuple[str, int]] = []
    events: list[EventTuple] = []
    for ts in range(size):
        roll = rng.random()
        if roll < 0.4 or not open_calls:
            agent = rng.choice("abc")
            numbers[agent] += 1
            open_calls.append((agent, numbers[agent]))
            events.append((ts, agent, "call_start", None, numbers[agent]))
        elif roll < 0.8:
            agent, number = open_calls.pop(rng.randrange(len(open_calls)))
            events.append((ts, agent, "call_end", None, number))
        elif roll < 0.9:
            agent, number = open_calls.pop()
            events.append((ts, agent, "call_error", None, {"call": number, "error": "E: x"}))
        else:
            events.append((ts, rng.choice("abc"), "fault_detected", f"r#{ts}", "why"))
    return events


def same_event(stored: EventRow, run_id: str, seq: int, recorded: EventTuple) -> bool:
    ts, agent, kind, fault_id, payload = recorded
    decoded = None if stored.payload is None else json.loads(stored.payload)
    return (
        (stored.run_id, stored.seq, stored.ts_ns, stored.agent, stored.kind, stored.fault_id)
        == (run_id, seq, ts, agent, kind, fault_id)
        and decoded == payload
        and type(decoded) is type(payload)
    )


class EventStoreContract:
    """Tests any :class:`BaseEventStore` implementation must pass."""

    @pytest.fixture
    def open_store(self) -> OpenStore:
        raise NotImplementedError("subclasses give the store under test")

    @pytest.fixture
    def store(self, open_store: OpenStore, tmp_path: Path) -> Iterator[BaseEventStore]:
        with open_store(tmp_path / "store.db") as store:
            yield store

    # -------------------------------------------------------------------- events
    def test_every_event_reads_back_in_order_with_its_payload(self, store: BaseEventStore) -> None:
        store.write_run(run_row("r1"), EVENTS, [])
        events = store.events("r1")
        assert len(events) == len(EVENTS)
        for seq, (stored, recorded) in enumerate(zip(events, EVENTS, strict=True)):
            assert same_event(stored, "r1", seq, recorded), (stored, recorded)
        assert all(e.payload is None or isinstance(e.payload, str) for e in events)
        assert events[0].value == 1
        assert events[2].value == "AgentCrashed in pricing"
        assert store.events("missing") == []

    def test_a_long_run_keeps_every_call(self, store: BaseEventStore) -> None:
        log = calls(5_000)
        store.write_run(run_row("r1"), log, [])
        events = store.events("r1")
        assert [(e.seq, e.ts_ns, e.kind, e.value) for e in events] == [
            (seq, ts, kind, number) for seq, (ts, _a, kind, _f, number) in enumerate(log)
        ]
        assert store.stats.runs == 1
        assert store.stats.events == len(log)

    @pytest.mark.parametrize("count", [1, 999, 1000, 1001, 2500])
    def test_call_records_read_back_as_their_two_events(
        self, store: BaseEventStore, count: int
    ) -> None:
        log: list[LogRecord] = [(1, "x", "note", None, "before")]
        log += call_records(count, agent='q"uote ü\\')
        log.append((10**6, "x", "note", None, "after"))
        store.write_run(run_row("r1"), log, [])
        stored = store.events("r1")
        expected = events(log)
        assert len(stored) == len(expected) == 2 * count + 2
        for seq, (row, recorded) in enumerate(zip(stored, expected, strict=True)):
            assert same_event(row, "r1", seq, recorded), (row, recorded)
        assert store.stats.events == len(expected)

    def test_delivery_records_read_back_as_their_two_events(self, store: BaseEventStore) -> None:
        log: list[LogRecord] = [
            (5, "lead", "pricing", "m-1", "TASK_ASSIGN", None),
            (6, 8, "pricing", 1),
            (9, "lead", 'a "quoted" ü', "m-2", "STATUS", "orders"),
            (10, "lead", "note", None, {"n": 1}),
        ]
        store.write_run(run_row("r1"), log, [])
        stored = store.events("r1")
        expected = events(log)
        assert [e[2] for e in expected] == [
            "message_sent",
            "message_delivered",
            "call_start",
            "call_end",
            "message_sent",
            "message_delivered",
            "note",
        ]
        assert len(stored) == len(expected)
        for seq, (row, recorded) in enumerate(zip(stored, expected, strict=True)):
            assert same_event(row, "r1", seq, recorded), (row, recorded)
        assert json.loads(stored[5].payload or "") == {
            "id": "m-2",
            "type": "STATUS",
            "sender": "lead",
            "receiver": 'a "quoted" ü',
            "topic": "orders",
            "attempt": 0,
        }

    def test_nested_and_overlapping_call_records_read_back_in_time_order(
        self, store: BaseEventStore
    ) -> None:
        store.write_run(run_row("r1"), nested_log(), [])
        stored = store.events("r1")
        assert [(e.ts_ns, e.agent, e.kind) for e in stored] == [
            (1, "lead", "call_start"),
            (2, "review", "call_start"),
            (3, "pricing", "call_start"),
            (4, "pricing", "call_end"),
            (5, "pricing", "note"),
            (6, "review", "call_end"),
            (7, "lead", "call_end"),
            (8, "pricing", "call_start"),
            (9, "pricing", "call_end"),
        ]
        assert [e.seq for e in stored] == list(range(9))
        assert [e.value for e in stored if e.kind.startswith("call_")] == [1, 1, 1, 1, 1, 1, 2, 2]

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_interleaved_calls_read_back_exactly(self, store: BaseEventStore, seed: int) -> None:
        log = interleaved(seed, 3_000)
        store.write_run(run_row("r1"), log, [])
        events = store.events("r1")
        assert len(events) == len(log)
        for seq, (stored, recorded) in enumerate(zip(events, log, strict=True)):
            assert same_event(stored, "r1", seq, recorded), (stored, recorded)

    def test_events_of_kind_name_their_test_and_filter_by_session(
        self, store: BaseEventStore
    ) -> None:
        store.write_run(run_row("r1", nodeid="b.py::t"), EVENTS, [])
        store.write_run(run_row("r2", nodeid="a.py::t", session="s2"), EVENTS[:3], [])
        detected = store.events_of_kind("fault_detected", "s1")
        assert [(e.nodeid, e.event.run_id, e.event.seq) for e in detected] == [("b.py::t", "r1", 2)]
        everywhere = store.events_of_kind("fault_detected")
        assert [e.nodeid for e in everywhere] == ["a.py::t", "b.py::t"]
        starts = store.events_of_kind("call_start", "s1")
        assert [e.event.seq for e in starts] == [0, 3, 4, 15, 16, 18]
        ends = store.events_of_kind("call_end", "s2")
        assert ends == []
        assert store.events_of_kind("fault_detected", "other") == []

    # ---------------------------------------------------------- runs and faults
    def test_runs_and_faults_read_back_typed(self, store: BaseEventStore) -> None:
        faults = [
            fault("r1", 1),
            fault("r1", 2, Outcome.SILENT, detected_ns=None, recovered_ns=None),
        ]
        store.write_run(run_row("r1"), [], faults)
        assert store.runs() == [run_row("r1")]
        assert store.runs("s1") == [run_row("r1")]
        assert store.runs("other") == []
        assert store.faults() == faults
        assert store.faults("s1") == faults
        assert store.faults("other") == []

    def test_started_at_defaults_to_the_time_of_writing(self, store: BaseEventStore) -> None:
        from dataclasses import replace

        store.write_run(replace(run_row("r1"), started_at=""), [], [])
        [run] = store.runs()
        assert run.started_at.startswith("20")
        assert run.started_at.endswith("+00:00")

    def test_runs_are_ordered_by_test_and_repetition(self, store: BaseEventStore) -> None:
        store.write_run(run_row("b1", nodeid="b", session="s2"), [], [fault("b1", 1)])
        store.write_run(run_row("a2", nodeid="a", rep=1), [], [])
        store.write_run(run_row("a1", nodeid="a", rep=0), [], [fault("a1", 1)])
        assert [r.run_id for r in store.runs()] == ["a1", "a2", "b1"]
        assert [r.run_id for r in store.runs("s1")] == ["a1", "a2"]
        assert [f.fault_id for f in store.faults("s2")] == ["b1#1"]

    def test_a_failed_write_leaves_nothing_of_its_run(self, store: BaseEventStore) -> None:
        store.write_run(run_row("r1"), EVENTS, [fault("r1", 1)])

        def write_and_commit() -> None:
            # the run is new but the fault id is taken: nothing of r2 may stay behind
            store.write_run(run_row("r2"), EVENTS, [fault("r1", 1)])
            store.flush()  # where a buffered store commits, and fails

        with pytest.raises(Exception, match=r"(?i)unique|exists|duplicate"):
            write_and_commit()
        assert [r.run_id for r in store.runs()] == ["r1"]
        assert store.events("r2") == []
        store.write_run(run_row("r3"), calls(3), [])  # and the store still takes writes
        assert len(store.events("r3")) == 6

    # ---------------------------------------------------------------- sessions
    def test_sessions_start_end_and_the_latest(self, store: BaseEventStore) -> None:
        assert store.latest_session() is None
        store.start_session("s1", 1234, ["--chaos", "-x"], "0.1.0", 2)
        store.start_session("s2", 99, [], "0.1.0", 0)
        [first, second] = store.sessions()
        assert (first.session_id, first.seed, first.args, first.workers) == (
            "s1",
            1234,
            ("--chaos", "-x"),
            2,
        )
        assert first.ended_at is None
        assert first.exitstatus is None
        assert store.latest_session() == "s2"
        store.write_run(run_row("r1", session="s1"), [], [])
        assert store.latest_session() == "s1"  # the newest that ran a chaos test
        store.end_session("s1", 3)
        ended = store.session("s1")
        assert ended is not None
        assert ended.exitstatus == 3
        assert ended.ended_at
        assert second.version == "0.1.0"
        assert store.session("missing") is None

    # -------------------------------------------------------------- durability
    def test_migrate_again_applies_nothing_and_reopening_keeps_data(
        self, open_store: OpenStore, tmp_path: Path
    ) -> None:
        path = tmp_path / "again.db"
        with open_store(path) as store:
            store.write_run(run_row("r1"), EVENTS, [fault("r1", 1)])
            assert store.migrate() == []
        with open_store(path) as store:
            assert store.migrate() == []
            assert [e.kind for e in store.events("r1")] == [e[2] for e in EVENTS]
            assert [f.fault_id for f in store.faults()] == ["r1#1"]
