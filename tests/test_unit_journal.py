"""The buffered store's journal: what a killed writer left is imported once, nothing is lost,
and a live writer's journal is never taken from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import hold_write_lock, query, wait_until
from store_contract import EVENTS, call_records, fault, run_row

from pytest_agentchaos.errors import StoreError
from pytest_agentchaos.model.log import events
from pytest_agentchaos.store import journal
from pytest_agentchaos.store import sqlite as sqlite_store
from pytest_agentchaos.store.sqlite import FLUSH_RECORDS, EventStore

pytestmark = pytest.mark.skipif(not journal.SUPPORTED, reason="no fcntl: nothing is journalled")


def count_runs(path: Path) -> int:
    [(count,)] = query(path, "SELECT count(*) FROM runs")
    return int(count)


KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from store_contract import EVENTS, call_records, fault, run_row
from pytest_agentchaos.store.sqlite import EventStore

store = EventStore({path!r}, buffered=True)
store.write_run(run_row("r1"), call_records(300), [fault("r1", 1)])
store.write_run(run_row("r2"), EVENTS, [])
store.write_run(run_row("r3"), [], [])
print(len(list(store.path.parent.glob("*-journals/*.journal"))), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_runs_a_killed_writer_journalled_are_imported_by_the_next_open_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    script = KILLED_WRITER.format(tests=str(Path(__file__).parent), path=str(path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "1"  # its journal was there when it died
    assert count_runs(path) == 0  # nothing was committed yet: the journal holds it all
    with EventStore.open(path) as store:
        assert [r.run_id for r in store.runs()] == ["r1", "r2", "r3"]
        assert [f.fault_id for f in store.faults()] == ["r1#1"]
        stored = [(e.seq, e.ts_ns, e.agent, e.kind, e.value) for e in store.events("r1")]
        assert stored == [
            (seq, ts, agent, kind, payload)
            for seq, (ts, agent, kind, _, payload) in enumerate(events(call_records(300)))
        ]
        assert [e.kind for e in store.events("r2")] == [e[2] for e in EVENTS]
    assert not (tmp_path / "e.db-journals").exists()
    with EventStore.open(path) as store:  # imported once, not again
        assert len(store.runs()) == 3


def test_a_live_writers_journal_is_not_imported_by_another_store(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    writer = EventStore(path, buffered=True)
    writer.migrate()
    try:
        writer.write_run(run_row("r1"), call_records(5), [])
        with EventStore.open(path) as reader:  # its open imports leftovers: there are none
            assert reader.runs() == []
        assert count_runs(path) == 0
        assert [r.run_id for r in writer.runs()] == ["r1"]  # a store reads its own writes
        assert count_runs(path) == 1
    finally:
        writer.close()
    assert not (tmp_path / "e.db-journals").exists()
    with EventStore.open(path) as store:
        assert [r.run_id for r in store.runs()] == ["r1"]


def test_a_journal_cut_short_keeps_its_whole_records(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    writer = journal.Journal(path)
    for n in range(3):
        writer.append((n, [(1, 2, "a", n)], "x" * n))
    size = writer.path.stat().st_size
    os.truncate(writer.path, size - 3)  # the last write only partly reached the disk
    assert list(journal.records(writer.path)) == [
        (0, [(1, 2, "a", 0)], ""),
        (1, [(1, 2, "a", 1)], "x"),
    ]
    writer.close(keep=True)


def committed_soon(path: Path, count: int) -> bool:
    """Whether ``count`` runs are in the store within a few seconds (the commit thread's work
    is not waited for by the test's writes)."""
    return wait_until(lambda: count_runs(path) == count, timeout=5, pause=0.005)


def test_runs_are_committed_in_batches_and_when_they_are_old_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.db"
    monkeypatch.setattr(sqlite_store, "FLUSH_RUNS", 3)
    monkeypatch.setattr(sqlite_store, "FLUSH_AFTER_S", 0.2)
    with EventStore.open(path):
        pass
    store = EventStore(path, buffered=True)
    try:
        store.write_run(run_row("r1"), [], [])
        store.write_run(run_row("r2"), [], [])
        time.sleep(0.05)
        assert count_runs(path) == 0  # held: neither enough runs nor old enough
        store.write_run(run_row("r3"), [], [])  # the third: a batch, committed on a thread
        assert committed_soon(path, 3)
        store.write_run(run_row("r4"), [], [])
        time.sleep(0.25)
        store.write_run(run_row("r5"), [], [])  # r4 waited long enough: both commit
        assert committed_soon(path, 5)
        # A run too big to hold commits at once, after those before it.
        store.write_run(run_row("r6"), [], [])
        store.write_run(run_row("r7"), call_records(FLUSH_RECORDS), [])
        assert count_runs(path) == 7
        assert store.stats.runs == 7
        assert [r.run_id for r in store.runs()] == [f"r{n}" for n in range(1, 8)]
    finally:
        store.close()
    assert not (tmp_path / "e.db-journals").exists()  # every batch's journal went with it


def test_runs_that_cannot_be_committed_at_close_stay_in_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    store = EventStore(path, buffered=True)
    store.write_run(run_row("r1"), EVENTS, [fault("r1", 1)])
    monkeypatch.setattr(sqlite_store, "LOCK_TIMEOUT_S", 0.05)
    held = threading.Event()
    holder = threading.Thread(target=hold_write_lock, args=(path, 0.5, held))
    holder.start()
    held.wait(5)
    with pytest.raises(StoreError, match="held the write lock"):
        store.close()
    holder.join()
    assert count_runs(path) == 0
    assert len(list((tmp_path / "e.db-journals").glob("*.journal"))) == 1
    with EventStore.open(path) as again:
        assert [r.run_id for r in again.runs()] == ["r1"]
        assert [e.kind for e in again.events("r1")] == [e[2] for e in EVENTS]
    assert not (tmp_path / "e.db-journals").exists()


def test_a_journal_this_version_cannot_read_is_kept_aside_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "e.db"
    with EventStore.open(path):
        pass
    strange = journal.Journal(path)
    strange.append(("not", "a", "run"))
    strange.close(keep=True)
    good = EventStore(path, buffered=True)
    good.write_run(run_row("r1"), call_records(2), [])
    good._journal.close(keep=True)  # type: ignore[union-attr]  # as if killed before its commit
    good._journal = None
    good._pending.clear()
    good.close()
    warned = pytest.warns(UserWarning, match=r"could not be imported .* kept as .*\.unreadable")
    with warned, EventStore.open(path) as store:
        assert [r.run_id for r in store.runs()] == ["r1"]
    kept = list((tmp_path / "e.db-journals").glob("*.unreadable"))
    assert len(kept) == 1
    assert list(journal.records(kept[0])) == [("not", "a", "run")]
