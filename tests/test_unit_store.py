"""Contract suite of the SQLite event store (pytest_agentchaos.store.sqlite)."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.errors import StoreError
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.store.sqlite import (
    MIGRATIONS,
    SCHEMA_VERSION,
    EventStore,
    RunRow,
    events_of_kind,
)

EXPECTED_TABLES = {"sessions", "runs", "events", "faults", "_agentchaos_migrations"}


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


def tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


# ------------------------------------------------------------------ schema
def test_open_migrates_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "e.db"
    with EventStore.open(path) as store:
        assert store.path == path
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        names = [r[0] for r in store.conn.execute("SELECT name FROM _agentchaos_migrations")]
        assert names == [name for name, _ in MIGRATIONS]
    assert tables(path) >= EXPECTED_TABLES
    assert SCHEMA_VERSION == len(MIGRATIONS) >= 1


def test_schema_columns(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "e.db") as store:

        def columns(table: str) -> set[str]:
            return {r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")}

        assert {"run_id", "nodeid", "seed", "repetition", "condition", "outcome", "worker"} <= (
            columns("runs")
        )
        assert {"started_ns", "ended_ns"} <= columns("runs")
        assert {"run_id", "seq", "ts_ns", "agent", "kind", "fault_id", "payload"} <= columns(
            "events"
        )
        assert {
            "fault_id",
            "run_id",
            "kind",
            "target",
            "params",
            "injected_ns",
            "detected_ns",
            "recovered_ns",
            "outcome",
            "strategy",
        } <= columns("faults")


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = EventStore(path)
    try:
        assert store.migrate() == [name for name, _ in MIGRATIONS]
        assert store.migrate() == []
        store.write_run(run_row("r1"), [], [])
    finally:
        store.close()
    with EventStore.open(path) as again:
        assert again.migrate() == []
        assert len(again.runs()) == 1
        count = again.conn.execute("SELECT COUNT(*) FROM _agentchaos_migrations").fetchone()[0]
        assert count == len(MIGRATIONS)


# ------------------------------------------------------------------ round trip
EVENTS: list[tuple[int, str, str, str | None, Any]] = [
    (10, "pricing", "call_start", None, 1),
    (11, "pricing", "fault_injected", "r1#1", {"kind": "crash", "call": 1, "params": {}}),
    (12, "pricing", "fault_detected", "r1#1", "AgentCrashed in pricing"),
    (13, "pricing", "corruption_received", "r1#1", "offer.price"),
    (14, "pricing", "note", None, [1, 2.5, None, True, "x"]),
    (15, "pricing", "call_end", None, None),
    (16, "pricing", "big", None, 2**62),
    (17, "pricing", "text", None, 'quote " and ünïcode'),
    (18, "pricing", "flag", None, False),
]


def test_write_run_and_read_back(tmp_path: Path) -> None:
    faults = [fault("r1", 1), fault("r1", 2, Outcome.SILENT, detected_ns=None, recovered_ns=None)]
    with EventStore.open(tmp_path / "e.db") as store:
        store.start_session("s1", 1234, ["--chaos", "-x"], "0.1.0", 2)
        store.write_run(run_row("r1"), EVENTS, faults)
        store.end_session("s1", 0)

        [session] = store.sessions()
        assert session["seed"] == 1234
        assert json.loads(session["args"]) == ["--chaos", "-x"]
        assert session["exitstatus"] == 0
        assert session["ended_at"] is not None
        assert store.latest_session() == "s1"

        [run] = store.runs()
        expected = run_row("r1")
        for name in ("run_id", "session_id", "nodeid", "seed", "repetition", "condition"):
            assert run[name] == getattr(expected, name)
        assert run["outcome"] == "passed"
        assert run["started_ns"] == 1_000
        assert run["ended_ns"] == 5_000
        assert run["worker"] == "gw0"
        assert run["strategies"] == "retry"
        assert run["started_at"]
        assert store.runs("s1") == [run]
        assert store.runs("other") == []

        assert store.faults() == faults
        assert store.faults("s1") == faults
        assert store.faults("other") == []
        row = store.conn.execute(
            "SELECT mttr_s, mttd_s FROM faults WHERE fault_id='r1#1'"
        ).fetchone()
        assert row == (pytest.approx(faults[0].mttr_s), pytest.approx(faults[0].mttd_s))

        events = store.events("r1")
        assert [e["seq"] for e in events] == list(range(len(EVENTS)))
        for stored, (ts, agent, kind, fid, payload) in zip(events, EVENTS, strict=True):
            assert (stored["ts_ns"], stored["agent"], stored["kind"], stored["fault_id"]) == (
                ts,
                agent,
                kind,
                fid,
            )
            if payload is None:
                assert stored["payload"] is None
            else:
                assert isinstance(stored["payload"], str)
                assert json.loads(stored["payload"]) == payload
        assert store.events("missing") == []

        detected = events_of_kind(store, "fault_detected", "s1")
        assert [(e["nodeid"], e["seq"]) for e in detected] == [("t.py::t", 2)]
        assert events_of_kind(store, "fault_detected", None) == detected
        assert events_of_kind(store, "fault_detected", "other") == []


def test_runs_are_ordered_and_filtered_by_session(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "e.db") as store:
        store.write_run(run_row("b1", nodeid="b", session="s2"), [], [fault("b1", 1)])
        store.write_run(run_row("a2", nodeid="a", rep=1, session="s1"), [], [])
        store.write_run(run_row("a1", nodeid="a", rep=0, session="s1"), [], [fault("a1", 1)])
        assert [r["run_id"] for r in store.runs()] == ["a1", "a2", "b1"]
        assert [r["run_id"] for r in store.runs("s1")] == ["a1", "a2"]
        assert [f.fault_id for f in store.faults("s2")] == ["b1#1"]


def test_failed_write_rolls_back_whole_run(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "e.db") as store:
        store.write_run(run_row("r1"), EVENTS, [fault("r1", 1)])
        with pytest.raises(sqlite3.IntegrityError):
            # the run row is new but the fault id is taken: nothing of r2 may stay behind
            store.write_run(run_row("r2"), EVENTS, [fault("r1", 1)])
        assert [r["run_id"] for r in store.runs()] == ["r1"]
        assert store.events("r2") == []
        assert not store.conn.in_transaction


def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path) as store:
        store.write_run(run_row("r1"), EVENTS, [fault("r1", 1)])
    with EventStore.open(path) as store:
        assert len(store.events("r1")) == len(EVENTS)
        assert store.faults()[0].fault_id == "r1#1"


# ------------------------------------------------------------------ refusing bad files
def _open_fails(path: Path) -> str:
    before = path.read_bytes()
    with pytest.raises(StoreError) as info, EventStore.open(path):
        pass
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()
    message = str(info.value)
    assert str(path) in message
    return message


def test_corrupt_file_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    path.write_bytes(b"this is not an SQLite database at all\n" * 200)
    message = _open_fails(path)
    assert "not a readable agentchaos event store" in message


def test_newer_schema_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    message = _open_fails(path)
    assert "newer" in message
    assert "99" in message
    assert f"up to {SCHEMA_VERSION}" in message


def test_other_apps_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE foo (x INTEGER)")
    conn.execute("INSERT INTO foo VALUES (1)")
    conn.commit()
    conn.close()
    message = _open_fails(path)
    assert "foo" in message
    assert "something else" in message
    assert tables(path) == {"foo"}


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        EventStore(tmp_path)


# ------------------------------------------------------------------ concurrent writers
WRITERS, RUNS_PER_WRITER, EVENTS_PER_RUN = 4, 50, 100


def _writer(path: str, worker: int) -> None:
    with EventStore.open(path) as store:
        for n in range(RUNS_PER_WRITER):
            run_id = f"w{worker}-r{n}"
            events = [
                (i, f"agent{worker}", "call_start", None, {"i": i}) for i in range(EVENTS_PER_RUN)
            ]
            store.write_run(
                run_row(run_id, nodeid=f"t.py::t{worker}", rep=n), events, [fault(run_id, 1)]
            )


@pytest.mark.parametrize("premigrated", [True, False], ids=["schema-first", "fresh-file"])
def test_four_processes_write_concurrently(tmp_path: Path, premigrated: bool) -> None:
    path = tmp_path / "e.db"
    if premigrated:
        with EventStore.open(path):  # the schema exists before the workers start (DESIGN)
            pass
    # fork is fast and safe here (no threads, no open connection); spawn elsewhere
    safe_fork = sys.platform == "linux" and sys.version_info < (3, 12)
    context: Any = multiprocessing.get_context("fork" if safe_fork else "spawn")
    processes = [context.Process(target=_writer, args=(str(path), w)) for w in range(WRITERS)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0] * WRITERS
    with EventStore.open(path) as store:
        assert len(store.runs()) == WRITERS * RUNS_PER_WRITER
        count = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert count == WRITERS * RUNS_PER_WRITER * EVENTS_PER_RUN
        assert len(store.faults()) == WRITERS * RUNS_PER_WRITER
