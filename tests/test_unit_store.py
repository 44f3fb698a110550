"""The SQLite event store: the contract suite in two configurations, then what is SQLite's own
(schema and migrations, refusing bad files, the write lock, concurrent writers)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from helpers import hold_write_lock
from store_contract import (
    EVENTS,
    EventStoreContract,
    OpenStore,
    call_records,
    calls,
    fault,
    run_row,
)

from pytest_agentchaos.errors import StoreError
from pytest_agentchaos.store import sqlite as sqlite_store
from pytest_agentchaos.store.migrations import MIGRATIONS, MIGRATIONS_TABLE, SCHEMA_VERSION
from pytest_agentchaos.store.sqlite import EventStore, kind_query

EXPECTED_TABLES = {
    "sessions",
    "runs",
    "event_log",
    "call_rows",
    "call_batches",
    "faults",
    "_agentchaos_migrations",
}


def open_file(path: Path) -> EventStore:
    store = EventStore(path)
    store.migrate()
    return store


def schema_001_file(path: Path) -> None:
    """A file as the first release left it: only migration 001 applied."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(
        f"CREATE TABLE {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    name, first = MIGRATIONS[0]
    first(conn)
    conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, '2026-01-01')", (name,))
    conn.execute("PRAGMA user_version = 1")
    conn.close()


class TestNewFile(EventStoreContract):
    @pytest.fixture
    def open_store(self) -> OpenStore:
        return open_file


class TestBufferedStore(EventStoreContract):
    """The session's store: runs journalled, committed in batches, read back the same."""

    @pytest.fixture
    def open_store(self) -> OpenStore:
        def open_buffered(path: Path) -> EventStore:
            store = EventStore(path, buffered=True)
            store.migrate()
            return store

        return open_buffered


class TestFileMigratedFromSchema001(EventStoreContract):
    @pytest.fixture
    def open_store(self) -> OpenStore:
        def open_migrated(path: Path) -> EventStore:
            if not path.exists():
                schema_001_file(path)
            return open_file(path)

        return open_migrated


def sql(path: Path, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def tables(path: Path) -> set[str]:
    return {r[0] for r in sql(path, "SELECT name FROM sqlite_master WHERE type='table'")}


# ------------------------------------------------------------------ schema
def test_open_migrates_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "e.db"
    with EventStore.open(path) as store:
        assert store.path == path
    assert sql(path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    names = [r[0] for r in sql(path, f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid")]
    assert (
        names
        == [name for name, _ in MIGRATIONS]
        == [
            "001_initial",
            "002_one_row_per_call",
            "003_call_batches",
        ]
    )
    assert tables(path) >= EXPECTED_TABLES
    views = sql(path, "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
    assert views == [("calls",), ("events",)]


def test_schema_columns(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass

    def columns(table: str) -> set[str]:
        return {r[1] for r in sql(path, f"PRAGMA table_info({table})")}

    assert {"run_id", "nodeid", "seed", "repetition", "condition", "outcome", "worker"} <= (
        columns("runs")
    )
    assert {"started_ns", "ended_ns", "run_key"} <= columns("runs")
    event_columns = ["run_id", "seq", "ts_ns", "agent", "kind", "fault_id", "payload"]
    assert [r[1] for r in sql(path, "PRAGMA table_info(events)")] == event_columns
    assert [r[1] for r in sql(path, "PRAGMA table_info(event_log)")] == [
        "run_key",
        *event_columns[1:],
    ]
    assert columns("calls") == {
        "run_key",
        "seq",
        "end_seq",
        "agent",
        "number",
        "start_ns",
        "end_ns",
    }
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


def test_a_completed_call_is_one_row_and_the_events_view_shows_both(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path) as store:
        store.write_run(run_row("r1"), calls(3) + EVENTS, [])
    assert sql(path, "SELECT count(*) FROM calls") == [(3 + 3,)]  # 3 + lead, pricing#2, twice
    by_kind = dict(sql(path, "SELECT kind, count(*) FROM events GROUP BY kind"))
    assert by_kind["call_start"] == 3 + 6
    assert by_kind["call_end"] == 3 + 5
    assert sql(path, "SELECT count(*) FROM events") == [(6 + len(EVENTS),)]
    # what plain SQL sees of a call is what was recorded: payload text "1", both timestamps
    assert sql(
        path, "SELECT seq, ts_ns, kind, payload FROM events WHERE run_id='r1' ORDER BY seq LIMIT 2"
    ) == [(0, 2, "call_start", "1"), (1, 3, "call_end", "1")]


def test_migration_002_keeps_every_event_of_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema_001_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(
        "INSERT INTO runs (run_id, session_id, nodeid, seed, repetition, condition, outcome)"
        " VALUES ('old', 's0', 't.py::old', 1, 0, 'chaos', 'passed')"
    )
    old_events = [
        ("old", 0, 5, "a", "call_start", None, "1"),
        ("old", 1, 6, "a", "fault_never_fired", None, '"chaos_crash()"'),
        ("old", 2, 7, "a", "call_end", None, "1"),
    ]
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", old_events)
    conn.close()
    with EventStore.open(path) as store:
        assert [(e.seq, e.kind, e.payload) for e in store.events("old")] == [
            (0, "call_start", "1"),
            (1, "fault_never_fired", '"chaos_crash()"'),
            (2, "call_end", "1"),
        ]
        store.write_run(run_row("new"), calls(2), [])
        [found] = store.events_of_kind("fault_never_fired")
        assert found.nodeid == "t.py::old"
    assert sql(path, "SELECT run_id, run_key FROM runs ORDER BY run_key") == [
        ("old", 1),
        ("new", 2),
    ]


def test_migration_003_keeps_every_call_of_a_schema_002_file(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema_001_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    name, second = MIGRATIONS[1]
    second(conn)
    conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, '2026-06-01')", (name,))
    conn.execute(
        "INSERT INTO runs (run_id, session_id, nodeid, seed, repetition, condition, outcome,"
        " run_key) VALUES ('old', 's0', 't.py::old', 1, 0, 'chaos', 'passed', 1)"
    )
    conn.execute("INSERT INTO calls VALUES (1, 0, 2, 'a', 1, 50, 70)")
    conn.execute("INSERT INTO event_log VALUES (1, 1, 60, 'a', 'note', NULL, '\"x\"')")
    conn.close()
    with EventStore.open(path) as store:
        assert [(e.seq, e.ts_ns, e.kind, e.payload) for e in store.events("old")] == [
            (0, 50, "call_start", "1"),
            (1, 60, "note", '"x"'),
            (2, 70, "call_end", "1"),
        ]
        store.write_run(run_row("new"), call_records(3), [])
    assert sql(path, "SELECT count(*) FROM call_rows") == [(1,)]
    assert sql(path, "SELECT count(*) FROM call_batches") == [(1,)]
    assert sql(
        path, "SELECT run_key, seq, end_seq, agent, number, start_ns, end_ns FROM calls"
    ) == [
        (1, 0, 2, "a", 1, 50, 70),
        (2, 0, 1, "agent", 1, 13, 14),
        (2, 2, 3, "agent", 2, 16, 17),
        (2, 4, 5, "agent", 3, 19, 20),
    ]


def test_reading_a_file_of_schema_001_migrates_it_first(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    schema_001_file(path)
    with EventStore.read(path) as store:
        assert store.events_of_kind("fault_never_fired") == []
        assert store.runs() == []
    assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


@pytest.mark.parametrize("session", ["s1", None])
def test_the_reports_look_up_reads_only_the_never_fired_index(
    tmp_path: Path, session: str | None
) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    query, params = kind_query("fault_never_fired", session)
    plan = " ".join(str(step) for step in sql(path, f"EXPLAIN QUERY PLAN {query}", params))
    assert "idx_event_log_never_fired" in plan
    assert "calls" not in plan


@pytest.mark.parametrize("kind", ["sweep_point", "graph_instrumented", "strategy_declined"])
def test_the_reports_other_look_ups_read_only_the_sessions_runs(tmp_path: Path, kind: str) -> None:
    # Through the `events` view SQLite would build every session's events and calls first.
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    query, params = kind_query(kind, "s1")
    plan = " ".join(str(step) for step in sql(path, f"EXPLAIN QUERY PLAN {query}", params))
    assert "idx_runs_session_id" in plan
    assert "MATERIALIZE" not in plan
    assert "VIRTUAL TABLE" not in plan  # no call batch is expanded


def test_nothing_pending_opens_without_sqlite_utils(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    probe = (
        "import sys; from pytest_agentchaos.store.sqlite import EventStore\n"
        f"with EventStore.open({str(path)!r}) as s: assert s.migrate() == []\n"
        "print(sorted(m for m in ('sqlite_utils', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    store = EventStore(path)
    try:
        assert store.migrate() == [name for name, _ in MIGRATIONS]
        assert store.migrate() == []
    finally:
        store.close()
    assert sql(path, f"SELECT count(*) FROM {MIGRATIONS_TABLE}") == [(len(MIGRATIONS),)]


# ------------------------------------------------------------------ the write lock
def test_a_writer_waits_for_the_lock_and_counts_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path) as store:
        held = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(path, 0.2, held))
        holder.start()
        held.wait(5)
        store.write_run(run_row("r1"), calls(2), [])
        holder.join()
        assert store.stats.max_lock_wait_ns >= 0.1e9
        assert store.stats.lock_wait_ns >= store.stats.max_lock_wait_ns
        assert [r.run_id for r in store.runs()] == ["r1"]


def test_a_lock_held_too_long_is_an_error_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.db"
    monkeypatch.setattr(sqlite_store, "LOCK_TIMEOUT_S", 0.05)
    with EventStore.open(path) as store:
        held = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(path, 0.5, held))
        holder.start()
        held.wait(5)
        with pytest.raises(StoreError, match="held the write lock") as info:
            store.write_run(run_row("r1"), [], [])
        holder.join()
        assert str(path) in str(info.value)
        store.write_run(run_row("r2"), [], [])
        assert [r.run_id for r in store.runs()] == ["r2"]


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
        assert len(store.faults()) == WRITERS * RUNS_PER_WRITER
    count = sql(path, "SELECT COUNT(*) FROM events")[0][0]
    assert count == WRITERS * RUNS_PER_WRITER * EVENTS_PER_RUN


# ------------------------------------------------------------- the commit thread's inserts
TRICKY_TEXT = 'quote " backslash \\ tab \t nul-escape \\u0000 café 漢字 🎲'


def tricky_log() -> list[Any]:
    return [
        *call_records(3, agent=TRICKY_TEXT),
        (100, TRICKY_TEXT, "detected", "r1#1", {"reason": TRICKY_TEXT, "n": 2**62, "x": 0.1}),
        (101, "a", "call_start", None, 4),
        (102, "a", "call_end", None, 4),
        (103, "a", "note", None, None),
    ]


def stored_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = ("runs", "call_batches", "call_rows", "event_log", "faults")
    with sqlite3.connect(path) as conn:
        return {
            table: [
                tuple((type(value).__name__, value) for value in row)
                for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")
            ]
            for table in tables
        }


def test_bulk_inserts_store_exactly_what_row_by_row_inserts_store(tmp_path: Path) -> None:
    """The commit thread inserts a batch through JSON (store/bulk.py): every value must come
    out with the type and value that ``executemany`` gives it, text included byte for byte."""
    from dataclasses import replace

    from pytest_agentchaos.store.bulk import insert_runs

    runs = [
        replace(run_row("r1", nodeid=f"t.py::t[{TRICKY_TEXT}]"), seed=2**63 - 1, duration_s=0.1),
        run_row("r2"),
    ]
    logs = [tricky_log(), call_records(1500)]
    faults = [[fault("r1", 1, params={"q": TRICKY_TEXT}), fault("r1", 2)], []]
    batch = [
        sqlite_store.RunRows.of(run, log, found, keep=True)
        for run, log, found in zip(runs, logs, faults, strict=True)
    ]
    by_row, by_json = tmp_path / "rows.db", tmp_path / "json.db"
    for path in (by_row, by_json):
        with EventStore.open(path):
            pass
    with EventStore.open(by_row) as store, store._write() as conn:
        for rows in batch:
            sqlite_store._insert_run(conn, rows)
    with EventStore.open(by_json) as store, store._write() as conn:
        insert_runs(conn, batch)
    expected = stored_rows(by_row)
    assert sum(len(rows) for rows in expected.values()) > 8  # every table has rows
    assert all(expected.values())
    assert stored_rows(by_json) == expected


def test_a_refused_run_does_not_hold_back_the_others_on_the_commit_thread(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    store = EventStore(path, buffered=True)
    try:
        store.write_run(run_row("r1"), calls(2), [])
        store.flush()
        store.write_run(run_row("r2"), calls(2), [])
        store.write_run(run_row("r1"), calls(2), [])  # the same id again: a caller's bug
        store.write_run(run_row("r3"), calls(2), [])
        with pytest.raises(sqlite3.IntegrityError):
            store.flush()
        assert [r.run_id for r in store.runs()] == ["r1", "r2", "r3"]
    finally:
        store.close()
    assert not (tmp_path / "e.db-journals").exists()
