"""Acceptance tests, run from outside with pytester: the SQLite event store (schema, events,
refusal of corrupt and newer files, survival of a killed session).
"""

from __future__ import annotations

import importlib.metadata
import json
import random
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest
from helpers import query

import pytest_agentchaos
from pytest_agentchaos.store.sqlite import EventStore

# langsmith's pytest plugin (installed with the langgraph extra) costs ~1.4 s per process
NO_SLOW_PLUGINS = ("-p", "no:langsmith_plugin")

RAN = """
import pathlib
def _ran():
    pathlib.Path("ran.txt").write_text("yes")
"""


def columns(path: Path, table: str) -> set[str]:
    return {row[1] for row in query(path, f"PRAGMA table_info({table})")}


CRASH_THEN_OK = """
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("pricing")
def price(n):
    return {"price": 10.0 * n}

@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_crash_then_ok():
    with pytest.raises(AgentCrashed):
        price(1)
    assert price(2) == {"price": 20.0}
"""


def test_schema_has_the_design_tables_and_columns(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=CRASH_THEN_OK)
    pytester.runpytest("--chaos", "--chaos-seed=1").assert_outcomes(passed=1)
    db = pytester.path / ".agentchaos" / "events.db"  # the default path
    assert db.is_file()
    tables = {
        row[0]
        for row in query(db, "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    assert {"sessions", "runs", "events", "faults"} <= tables
    assert columns(db, "runs") >= {
        "run_id",
        "session_id",
        "nodeid",
        "seed",
        "repetition",
        "condition",
        "outcome",
        "started_ns",
        "ended_ns",
        "worker",
    }
    assert columns(db, "events") >= {
        "run_id",
        "seq",
        "ts_ns",
        "agent",
        "kind",
        "fault_id",
        "payload",
    }
    assert columns(db, "faults") >= {
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
    }
    assert columns(db, "sessions") >= {"session_id", "seed"}
    assert query(db, "PRAGMA journal_mode") == [("wal",)]
    assert query(db, "PRAGMA user_version")[0][0] >= 1
    (session,) = query(db, "SELECT seed, exitstatus, ended_at IS NOT NULL FROM sessions")
    assert session == (1, 0, 1)


def test_every_call_fault_detection_and_recovery_is_an_event(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=CRASH_THEN_OK)
    pytester.runpytest("--chaos", "--chaos-db=s.db").assert_outcomes(passed=1)
    db = pytester.path / "s.db"
    (run,) = query(db, "SELECT run_id, nodeid, repetition, condition, outcome, worker FROM runs")
    run_id = run[0]
    assert run[1:] == ("test_store.py::test_crash_then_ok", 0, "chaos", "passed", "main")
    (fault,) = query(
        db,
        "SELECT fault_id, kind, target, call_number, injected_ns, detected_ns, recovered_ns,"
        " outcome, params FROM faults WHERE run_id = ?",
        run_id,
    )
    fault_id, kind, target, call_number, injected, detected, recovered, outcome, params = fault
    assert (kind, target, call_number, outcome) == ("crash", "pricing", 1, "recovered")
    assert injected <= detected < recovered
    assert json.loads(params) == {"target": "pricing", "at_call": [1]}

    events = query(
        db,
        "SELECT seq, ts_ns, agent, kind, fault_id, payload FROM events WHERE run_id = ?"
        " ORDER BY seq",
        run_id,
    )
    assert [e[0] for e in events] == list(range(len(events)))
    assert [e[1] for e in events] == sorted(e[1] for e in events)
    assert {e[2] for e in events} == {"pricing"}
    kinds = [e[3] for e in events]
    wanted = ["call_start", "call_end", "fault_injected", "fault_detected", "fault_recovered"]
    seen = [k for k in kinds if k in wanted]
    expected = ["call_start", "call_start", "call_end"]
    expected += ["fault_injected", "fault_detected", "fault_recovered"]
    assert sorted(seen) == sorted(expected)
    # the failed call 1 never ends; detection comes before the retry, recovery after it ends
    assert seen.index("fault_injected") < seen.index("fault_detected")
    assert seen.index("fault_detected") < len(seen) - 1 - seen[::-1].index("call_start")
    assert seen.index("call_end") < seen.index("fault_recovered")
    by_kind = {e[3]: e for e in events}
    for name in ("fault_injected", "fault_detected", "fault_recovered"):
        assert by_kind[name][4] == fault_id
    assert by_kind["fault_injected"][1] == injected
    assert by_kind["fault_detected"][1] == detected
    assert by_kind["fault_recovered"][1] == recovered
    assert [json.loads(e[5]) for e in events if e[3] == "call_start"] == [1, 2]
    assert json.loads(by_kind["call_end"][5]) == 2


def test_corrupt_store_is_refused_and_left_as_it_is(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=RAN + "\ndef test_x():\n    _ran()\n")
    db = pytester.path / "corrupt.db"
    garbage = random.Random(0).randbytes(8192)
    db.write_bytes(garbage)
    result = pytester.runpytest("--chaos", f"--chaos-db={db}")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert str(db) in text
    assert "not a readable agentchaos event store" in text
    assert "INTERNALERROR" not in text
    assert db.read_bytes() == garbage
    assert not (pytester.path / "ran.txt").exists()


def test_store_with_a_newer_schema_is_refused_and_left_as_it_is(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_store=RAN + "\ndef test_x():\n    _ran()\n")
    db = pytester.path / "newer.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE future (x)")
        conn.execute("PRAGMA user_version = 99")
        conn.commit()
    before = db.read_bytes()
    result = pytester.runpytest("--chaos", f"--chaos-db={db}")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert str(db) in text
    assert "schema version 99" in text
    assert "newer" in text
    assert "INTERNALERROR" not in text
    assert db.read_bytes() == before
    assert not (pytester.path / "ran.txt").exists()


def test_sqlite_file_of_another_program_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=RAN + "\ndef test_x():\n    _ran()\n")
    db = pytester.path / "other.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
        conn.commit()
    before = db.read_bytes()
    result = pytester.runpytest("--chaos", f"--chaos-db={db}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "customers" in result.stderr.str()
    assert db.read_bytes() == before


def test_store_path_that_is_a_directory_is_refused(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=RAN + "\ndef test_x():\n    _ran()\n")
    pytester.mkdir("adir")
    result = pytester.runpytest("--chaos", "--chaos-db=adir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "adir" in result.stderr.str()
    assert "directory" in result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_sessions_append_to_the_same_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_store=CRASH_THEN_OK)
    for seed in (1, 2):
        pytester.runpytest("--chaos", f"--chaos-seed={seed}", "--chaos-db=s.db").assert_outcomes(
            passed=1
        )
    db = pytester.path / "s.db"
    assert query(db, "SELECT seed FROM sessions ORDER BY started_at") == [(1,), (2,)]
    # The session row's version is the package's constant, which must match what is installed.
    installed = importlib.metadata.version("pytest-agentchaos")
    assert pytest_agentchaos.__version__ == installed
    assert query(db, "SELECT DISTINCT version FROM sessions") == [(installed,)]
    assert query(db, "SELECT count(*), count(DISTINCT session_id) FROM runs") == [(2, 2)]
    assert query(db, "SELECT count(*) FROM faults") == [(2,)]


KILLED = """
import os
import signal
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("a")
def a():
    return 1

@pytest.mark.chaos_crash(target="a", at_call=1)
def test_1_recovered():
    with pytest.raises(AgentCrashed):
        a()
    assert a() == 1

@pytest.mark.chaos_crash(target="a", at_call=2)
def test_2_unrecovered():
    a()
    with pytest.raises(AgentCrashed):
        a()

@pytest.mark.chaos_crash(target="a", at_call=1)
def test_3_killed():
    with pytest.raises(AgentCrashed):
        a()
    os.kill(os.getpid(), signal.SIGKILL)

def test_4_never_runs():
    pass
"""


def test_killed_session_keeps_every_finished_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_killed=KILLED)
    result = pytester.runpytest_subprocess(
        *NO_SLOW_PLUGINS, "--chaos", "--chaos-seed=5", "--chaos-db=k.db"
    )
    assert result.ret == -9
    db = pytester.path / "k.db"
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    # The finished runs are on disk, in the store or (not committed yet) in the killed
    # process's journal; the next open of the store imports the journal, once.
    journals = pytester.path / "k.db-journals"
    assert list(journals.glob("*.journal")) or query(db, "SELECT count(*) FROM runs") == [(2,)]
    for _ in range(2):
        with EventStore.read(db) as store:
            assert len(store.runs()) == 2
    assert not journals.exists()
    runs = query(db, "SELECT nodeid, outcome, run_id FROM runs ORDER BY nodeid")
    assert [(r[0], r[1]) for r in runs] == [
        ("test_killed.py::test_1_recovered", "passed"),
        ("test_killed.py::test_2_unrecovered", "passed"),
    ]
    faults = query(
        db,
        "SELECT runs.nodeid, faults.outcome, faults.call_number FROM faults"
        " JOIN runs USING (run_id) ORDER BY runs.nodeid",
    )
    assert faults == [
        ("test_killed.py::test_1_recovered", "recovered", 1),
        ("test_killed.py::test_2_unrecovered", "unrecovered", 2),
    ]
    for _, _, run_id in runs:
        (count,) = query(db, "SELECT count(*) FROM events WHERE run_id = ?", run_id)[0]
        assert count >= 4
    assert query(db, "SELECT count(*) FROM events WHERE run_id NOT IN (SELECT run_id FROM runs)")[
        0
    ] == (0,)
    (session,) = query(db, "SELECT seed, ended_at FROM sessions")
    assert session == (5, None)


def test_agentchaos_store_fixture_is_the_sessions_store(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_store=CRASH_THEN_OK
        + """

def test_zz_store_sees_the_finished_run(agentchaos_store):
    import pathlib

    assert agentchaos_store.path == pathlib.Path("s.db").absolute()
    runs = agentchaos_store.runs()
    assert [r.nodeid for r in runs] == ["test_store.py::test_crash_then_ok"]
    assert [f.outcome.value for f in agentchaos_store.faults()] == ["recovered"]
"""
    )
    pytester.runpytest("--chaos", "--chaos-db=s.db").assert_outcomes(passed=2)


def test_store_stays_put_when_a_test_changes_directory(pytester: pytest.Pytester) -> None:
    # The first run's rows are written after the test moved elsewhere: they must still land in
    # the store named on the command line, relative to where pytest was started.
    pytester.makepyfile(
        test_cd="""
import os
import pytest
from pytest_agentchaos import agent

@agent("a")
def a():
    return 1

@pytest.mark.chaos_delay(target="a", seconds=0)
def test_moves_away(agentchaos, tmp_path):
    os.chdir(tmp_path)
    assert a() == 1
"""
    )
    # In an xdist worker, which opens the store only when its first test ends.
    result = pytester.runpytest_subprocess(
        "--chaos", "--chaos-db=s.db", "-p", "no:cacheprovider", "-p", "xdist", "-n", "1"
    )
    result.assert_outcomes(passed=1)
    with closing(sqlite3.connect(pytester.path / "s.db")) as conn:
        assert conn.execute("SELECT nodeid FROM runs").fetchall() == [
            ("test_cd.py::test_moves_away",)
        ]


def test_runs_started_at_is_when_each_test_started(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_times="""
import time
import pytest
from pytest_agentchaos import agent

@agent("a")
def a():
    return 1

@pytest.mark.chaos_delay(target="a", seconds=0)
def test_first(agentchaos):
    a()
    time.sleep(0.3)

@pytest.mark.chaos_delay(target="a", seconds=0)
def test_second(agentchaos):
    a()
"""
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    with closing(sqlite3.connect(pytester.path / "s.db")) as conn:
        session_start = conn.execute("SELECT started_at FROM sessions").fetchone()[0]
        rows = conn.execute("SELECT started_at, duration_s FROM runs ORDER BY nodeid").fetchall()
    first, second = (datetime.fromisoformat(at) for at, _ in rows)
    assert datetime.fromisoformat(session_start) <= first
    # the second test started after the first one's 0.3 s, not when its own row was written
    assert (second - first).total_seconds() >= 0.3
    assert rows[0][1] >= 0.3 > rows[1][1]


MODULES_LOADED = """
import sys
from pytest_agentchaos import agent

@agent("pricing")
def price(n):
    return n

def test_calls(agentchaos):
    assert [price(n) for n in range(3)] == [0, 1, 2]

def test_zz_modules():
    print("LOADED", sorted(m for m in ("sqlite_utils", "numpy") if m in sys.modules))
"""


def test_a_session_with_nothing_to_migrate_never_imports_sqlite_utils(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_store=MODULES_LOADED)
    args = (*NO_SLOW_PLUGINS, "--chaos", "--chaos-db=m.db", "-s")
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=2)
    assert "LOADED ['numpy', 'sqlite_utils']" in first.stdout.str()  # it created the schema
    again = pytester.runpytest_subprocess(*args)
    again.assert_outcomes(passed=2)
    assert "LOADED []" in again.stdout.str()
    starts = query(pytester.path / "m.db", "SELECT count(*) FROM events WHERE kind='call_start'")
    assert starts == [(6,)]
    assert query(pytester.path / "m.db", "SELECT count(*) FROM calls") == [(6,)]
