"""A run's log keeps a call that nothing happened to as one record (model/log.py); the event
stream read from it is the one the run lived through: in time order, a call's start before
what happened inside it, under nesting, threads and asyncio."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from helpers import active, make_run

from pytest_agentchaos import agent
from pytest_agentchaos.model.log import EventTuple, events, in_order


@agent("inner")
def inner(x: int) -> int:
    return x + 1


@agent("outer")
def outer(x: int) -> int:
    return inner(x) * 2


@agent("broken")
def broken() -> None:
    raise ValueError("no")


@agent("async_inner")
async def async_inner(x: int) -> int:
    await asyncio.sleep(0)
    return x


def kinds(stream: list[EventTuple]) -> list[tuple[str, str, object]]:
    return [(agent_name, kind, payload) for _, agent_name, kind, _, payload in stream]


def assert_time_ordered(stream: list[EventTuple]) -> None:
    stamps = [event[0] for event in stream]
    assert stamps == sorted(stamps)


def test_a_plain_call_is_one_record_and_reads_as_its_two_events() -> None:
    run = make_run()
    with active(run):
        assert inner(1) == 2
        assert inner(2) == 3
    assert len(run.log) == 2
    assert [len(record) for record in run.log] == [4, 4]
    assert kinds(run.events) == [
        ("inner", "call_start", 1),
        ("inner", "call_end", 1),
        ("inner", "call_start", 2),
        ("inner", "call_end", 2),
    ]
    assert_time_ordered(run.events)
    assert len(events(run.log)) == 4


def test_nested_calls_read_outer_start_inner_call_outer_end() -> None:
    run = make_run()
    with active(run):
        assert outer(1) == 4
    assert not in_order(run.log)  # the outer record came after the inner one
    assert kinds(run.events) == [
        ("outer", "call_start", 1),
        ("inner", "call_start", 1),
        ("inner", "call_end", 1),
        ("outer", "call_end", 1),
    ]
    assert_time_ordered(run.events)


def test_a_call_that_raises_records_its_start_before_its_error() -> None:
    run = make_run()
    with active(run), pytest.raises(ValueError, match="no"):
        broken()
    stream = run.events
    assert kinds(stream)[:2] == [
        ("broken", "call_start", 1),
        ("broken", "call_error", {"call": 1, "error": "ValueError: no"}),
    ]
    assert_time_ordered(stream)


def test_a_fault_armed_that_does_not_fire_leaves_the_call_one_record() -> None:
    run = make_run(("crash", {"target": "inner", "at_call": [2]}))
    with active(run):
        inner(1)
        with pytest.raises(Exception, match="crashed"):
            inner(2)
        inner(3)
    assert [len(record) for record in run.log[:1]] == [4]  # call 1: nothing fired
    stream = run.events
    second = [e for e in stream if e[4] == 2 or (isinstance(e[4], dict) and e[4].get("call") == 2)]
    assert [e[2] for e in second][:3] == ["call_start", "fault_injected", "call_error"]
    assert [e[2] for e in stream if e[4] == 3] == ["call_start", "call_end"]
    assert [e[2] for e in stream][-1] == "fault_recovered"  # call 3 made the crash good
    assert_time_ordered(stream)


def test_calls_on_eight_threads_read_back_in_time_order_each_start_before_its_end() -> None:
    run = make_run()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for n in range(300):
            outer(n)

    with active(run):
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    stream = run.events
    assert len(stream) == 8 * 300 * 4
    assert_time_ordered(stream)
    seen: dict[tuple[str, object], int] = {}
    for seq, (_, name, kind, _, number) in enumerate(stream):
        if kind == "call_start":
            seen[name, number] = seq
        else:
            assert seen[name, number] < seq  # each call number is one call of its agent
    assert len(seen) == 2 * 8 * 300


def test_async_calls_gathered_read_back_in_time_order() -> None:
    run = make_run()

    async def main() -> list[int]:
        with active(run):
            return await asyncio.gather(*(async_inner(n) for n in range(50)))

    assert asyncio.run(main()) == list(range(50))
    stream = run.events
    assert len(stream) == 100
    assert_time_ordered(stream)
    starts = [e for e in stream if e[2] == "call_start"]
    assert len(starts) == 50


def test_the_store_keeps_the_stream_the_run_reads(tmp_path: Path) -> None:
    from pytest_agentchaos.store.base import RunRow
    from pytest_agentchaos.store.sqlite import EventStore

    run = make_run()
    with active(run):
        for n in range(30):
            outer(n)
        with pytest.raises(ValueError):
            broken()
        inner(5)
    expected = events(run.log)
    with EventStore.open(tmp_path / "e.db") as store:
        row = RunRow("run-1", "s", "t.py::t", 1, 0, "chaos", "passed", 0, 1, 0.0, "main", "")
        store.write_run(row, run.log, [])
        stored = store.events("run-1")
    assert [(e.seq, e.ts_ns, e.agent, e.kind) for e in stored] == [
        (seq, ts, name, kind) for seq, (ts, name, kind, _, _) in enumerate(expected)
    ]


def test_a_fault_at_probability_0_leaves_calls_on_the_flat_path_and_is_reported_never_fired() -> (
    None
):
    run = make_run(
        ("crash", {"target": "inner", "probability": 0.0}),
        ("delay", {"target": "inner", "probability": 0.0, "seconds": 5}),
    )
    with active(run):
        assert [inner(n) for n in range(3)] == [1, 2, 3]
    assert [len(record) for record in run.log] == [4, 4, 4]
    assert run._agent_faults["inner"] == ()  # no fault that can fire: the flat path
    run.finish()
    assert run.firings == []
    never = [e for e in run.events if e[2] == "fault_never_fired"]
    assert [e[4] for e in never] == [
        "chaos_crash(target='inner', probability=0.0)",
        "chaos_delay(target='inner', probability=0.0, seconds=5.0)",
    ]
