"""The SQLite event store: sessions, runs, events and fault firings.

One file (default ``.agentchaos/events.db``) in WAL mode, written by every xdist worker.
Writers take ``BEGIN IMMEDIATE``: a deferred transaction that later needs the write lock fails
at once with SQLITE_BUSY_SNAPSHOT under concurrent writers, and the busy timeout never helps.
While another writer holds the lock we retry every 50 µs to 5 ms ourselves: SQLite's own busy
handler sleeps at least 1 ms, far longer than a test's commit holds the lock.

Commits do not fsync (``synchronous = NORMAL``, safe in WAL mode): a committed run survives the
process being killed; only a power loss or OS crash can undo the commits since the last
checkpoint (at most ~40 MB of WAL). A *buffered* store (the session's) journals each finished
run at once (:mod:`.journal`) and commits them in batches on a thread of its own
(:mod:`.committer`): just as safe against a kill, and a fraction of the cost per test.
The schema is versioned by named migrations (see :mod:`.migrations`) and ``PRAGMA
user_version``, so a file from a newer version is refused rather than damaged.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from pytest_agentchaos.errors import StoreError
from pytest_agentchaos.model.log import LogRecord
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.store import journal
from pytest_agentchaos.store.base import (
    BaseEventStore,
    EventRow,
    RunRow,
    SessionRow,
    TestEvent,
    WriteStats,
    iso_time,
)
from pytest_agentchaos.store.bulk import RUN_COLUMNS, insert_runs
from pytest_agentchaos.store.committer import Committer
from pytest_agentchaos.store.migrations import (
    CALL_END,
    CALL_START,
    MIGRATIONS,
    MIGRATIONS_TABLE,
    NEVER_FIRED,
    SCHEMA_VERSION,
)
from pytest_agentchaos.store.rows import BatchRow, CallRow, EventLogRow, LogRows

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "EventStore", "RunRow", "iso_time"]

#: How long a writer waits for the write lock before giving up.
LOCK_TIMEOUT_S = 60.0
_FIRST_RETRY_S, _LONGEST_RETRY_S = 50e-6, 5e-3
_CHECKPOINT_PAGES, _WAL_LIMIT_BYTES = 10_000, 64 * 2**20
#: A buffered store hands what it journalled to its commit thread once it holds this many log
#: records or runs, or its oldest uncommitted run is this old: readers in other processes
#: (Datasette, another xdist worker's strategy) see a finished run about this late.
FLUSH_RECORDS, FLUSH_RUNS, FLUSH_AFTER_S = 20_000, 500, 0.1


class RunRows(NamedTuple):
    """One run's rows as they are inserted (but for the run's key): what a journal keeps."""

    run: tuple[Any, ...]
    batches: Iterable[BatchRow]
    calls: Iterable[CallRow]
    events: Iterable[EventLogRow]
    faults: Iterable[tuple[Any, ...]]
    event_count: int

    @classmethod
    def of(
        cls, run: RunRow, log: Sequence[LogRecord], faults: Sequence[FaultResult], *, keep: bool
    ) -> RunRows:
        """The rows of a finished run: lists with ``keep`` (to journal and hold), otherwise
        generators that stream the log into ``executemany``."""
        rows = LogRows(log)
        gather: Callable[[Iterable[Any]], Iterable[Any]] = list if keep else iter
        return cls(
            _run_values(run),
            gather(rows.batch_rows()),
            gather(rows.call_rows()),
            gather(rows.event_rows()),
            [_fault_values(fault) for fault in faults],
            rows.event_count,
        )


_RUN_COLUMNS = f"{RUN_COLUMNS}, run_key"
# The run's integer key is the next free one; taken under the write lock, so it is unique.
_INSERT_RUN = (
    f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 13)},"
    " (SELECT coalesce(max(run_key), 0) + 1 FROM runs)) RETURNING run_key"
)
_INSERT_BATCH = "INSERT INTO call_batches VALUES (?, ?, ?)"
_INSERT_CALL = "INSERT INTO call_rows VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_EVENT = "INSERT INTO event_log VALUES (?, ?, ?, ?, ?, ?, ?)"
_INSERT_FAULT = f"INSERT INTO faults VALUES ({', '.join('?' * 15)})"
_EVENT_COLUMNS = "run_id, seq, ts_ns, agent, kind, fault_id, payload"


def _now_iso() -> str:
    return iso_time(time.time())


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or (
        "locked" in str(error)
    )


class EventStore(BaseEventStore):
    """The SQLite event store at ``path``; use :meth:`open` (a context manager) or close it."""

    def __init__(self, path: str | os.PathLike[str], *, buffered: bool = False) -> None:
        """``buffered``: journal each run and commit in batches (see the module docstring);
        reads commit what is pending first, so this store always reads what it wrote."""
        self.path = Path(path)
        self.stats = WriteStats()
        self._conn = self._connect()
        self.buffered = buffered and journal.SUPPORTED
        self._journal: journal.Journal | None = None  # holds the runs in _pending
        self._pending: list[RunRows] = []
        self._committer: Committer | None = None  # commits handed-over runs on its thread
        self._committer_conn: sqlite3.Connection | None = None  # used by that thread only
        self._pending_records = 0
        self._pending_since = 0.0

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str]) -> Iterator[EventStore]:
        """The store at ``path``, created or migrated as needed."""
        store = cls(path)
        try:
            store.migrate()
            yield store
        finally:
            store.close()

    @classmethod
    @contextmanager
    def read(cls, path: str | os.PathLike[str]) -> Iterator[EventStore]:
        """An existing store, for reading: a missing file is an error, not a new store.

        A file written by an older version is migrated first, so every query finds its tables.
        """
        if not Path(path).is_file():
            raise StoreError(f"no event store at {path}: the file does not exist")
        store = cls(path)
        try:
            if not store._has_table(MIGRATIONS_TABLE):
                raise StoreError(f"{path} is not an agentchaos event store (it has no schema)")
            store.migrate()
            yield store
        finally:
            store.close()

    def _connect(self) -> sqlite3.Connection:
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"event store {self.path} is a directory, not a database file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The connect-time checks may meet a writer converting a fresh file to WAL: wait.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as error:
            conn.close()
            raise StoreError(
                f"cannot read the event store {self.path}: it is not a readable agentchaos "
                f"event store ({error}); it was left as it is: move it away or pass another "
                "--chaos-db"
            ) from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{self.path} has schema version {version}, written by a newer pytest-agentchaos; "
                f"this version knows schema versions up to {SCHEMA_VERSION}. Upgrade "
                "pytest-agentchaos or pass another --chaos-db; the file was left as it is"
            )
        if tables and MIGRATIONS_TABLE not in tables:
            conn.close()
            raise StoreError(
                f"{self.path} is an SQLite database of something else (tables: "
                f"{', '.join(sorted(tables)[:5])}); it was left as it is: pass another --chaos-db"
            )
        conn.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of WAL rather than every 4 MB: each checkpoint copies the
        # pages every commit touches again (the runs table, the ends of the indexes) and syncs;
        # ten times fewer of them cut a test's write by about a third. The WAL is trimmed back.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_CHECKPOINT_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit = {_WAL_LIMIT_BYTES}")
        conn.execute("PRAGMA busy_timeout = 0")  # writers retry themselves: see _lock
        return conn

    def close(self) -> None:
        """Commit what is pending and close. If that fails, the journal stays for the next
        open of the store to import, and the error is raised."""
        try:
            self.flush()
        finally:
            try:
                if self._committer is not None:
                    self._committer.close()
            finally:
                if self._committer_conn is not None:  # its thread has ended
                    self._committer_conn.close()
                    self._committer_conn = None
                if self._journal is not None:
                    self._journal.close(keep=bool(self._pending))
                    self._journal = None
                self._conn.close()

    # ----------------------------------------------------------------------- locking
    def _retrying(self, statement: str, conn: sqlite3.Connection | None = None) -> int:
        """Execute ``statement``, retrying while another writer holds the lock; returns the
        nanoseconds spent waiting."""
        conn = conn or self._conn
        started = time.perf_counter_ns()
        pause = _FIRST_RETRY_S
        while True:
            try:
                conn.execute(statement)
            except sqlite3.OperationalError as error:
                waited = time.perf_counter_ns() - started
                if not _is_busy(error):
                    raise
                if waited > LOCK_TIMEOUT_S * 1e9:
                    raise StoreError(
                        f"{self.path}: another writer held the write lock for over "
                        f"{LOCK_TIMEOUT_S:g} s"
                    ) from error
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_RETRY_S)
                continue
            return time.perf_counter_ns() - started

    @contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        conn = conn or self._conn
        waited = self._retrying("BEGIN IMMEDIATE", conn)
        self.stats.lock_wait_ns += waited
        self.stats.max_lock_wait_ns = max(self.stats.max_lock_wait_ns, waited)
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --------------------------------------------------------------------- migrating
    def _has_table(self, name: str) -> bool:
        found = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def _applied(self) -> set[str]:
        if not self._has_table(MIGRATIONS_TABLE):
            return set()
        return {row[0] for row in self._conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}

    def migrate(self) -> list[str]:
        """Apply the migrations this file lacks, then import the runs that killed writers left
        in their journals (:meth:`import_leftovers`); returns the migrations' names.

        Nothing pending (the common case) costs two reads, a directory look-up and no lock.
        """
        applied = self._migrate()
        self.import_leftovers()
        return applied

    def _migrate(self) -> list[str]:
        if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            self._retrying("PRAGMA journal_mode = WAL")
        if self._applied() >= {name for name, _ in MIGRATIONS}:
            return []
        applied: list[str] = []
        with self._write() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = self._applied()  # again, under the lock: another process may have migrated
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                migration(conn)
                conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (?, ?)", (name, _now_iso()))
                applied.append(name)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return applied

    def import_leftovers(self) -> int:
        """Commit the runs that writers killed before committing them left in their journals
        (a run already in the store is not written twice); returns how many were imported."""
        imported = 0
        for path, fd in journal.leftovers(self.path):
            try:
                with self._write() as conn:
                    for record in journal.records(path):
                        rows = RunRows(*record)
                        found = conn.execute("SELECT 1 FROM runs WHERE run_id = ?", rows.run[:1])
                        if found.fetchone() is None:
                            _insert_run(conn, rows)
                            imported += 1
            except (ValueError, TypeError, EOFError, sqlite3.IntegrityError) as error:
                # Not a journal this version can read: kept aside, never lost, never in the way.
                kept = journal.set_aside(path, fd)
                warnings.warn(
                    f"agentchaos: the journal {path} could not be imported ({error}); "
                    f"it was kept as {kept}",
                    stacklevel=2,
                )
                continue
            journal.release(path, fd)
        return imported

    # ----------------------------------------------------------------------- writing
    def start_session(
        self, session_id: str, seed: int, args: Sequence[str], version: str, workers: int
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sessions"
                " (session_id, started_at, seed, args, version, workers) VALUES (?, ?, ?, ?, ?, ?)",
                (session_id, _now_iso(), seed, json.dumps(list(args)), version, workers),
            )

    def end_session(self, session_id: str, exitstatus: int) -> None:
        self.flush()
        with self._write() as conn:
            conn.execute(
                "UPDATE sessions SET ended_at = ?, exitstatus = ? WHERE session_id = ?",
                (_now_iso(), exitstatus, session_id),
            )
        if self._committer is not None:
            # Copy the session's commits into the database file now, on the commit thread,
            # while pytest reports and unconfigures; closing would otherwise do it, waited for.
            self._committer.submit(self._checkpoint)

    def write_run(
        self, run: RunRow, events: Sequence[LogRecord], faults: Sequence[FaultResult]
    ) -> None:
        """Commit one finished run with its log and firings, in one transaction; a buffered
        store journals it now and commits it with others soon (:meth:`flush`).

        A run is encoded into its rows once (consecutive calls as JSON batches): a buffered
        store journals those rows and holds them until it commits; otherwise they stream from
        ``events`` into ``executemany``, never a second encoded copy of a big run's log.
        """
        started = time.perf_counter_ns()
        if self.buffered and len(events) < FLUSH_RECORDS:
            rows = RunRows.of(run, events, faults, keep=True)
            if self._journal is None:
                self._journal = journal.Journal(self.path)
            self._journal.append(tuple(rows))
            if not self._pending:
                self._pending_since = time.monotonic()
            self._pending.append(rows)
            self._pending_records += len(events)
            if (
                self._pending_records >= FLUSH_RECORDS
                or len(self._pending) >= FLUSH_RUNS
                or time.monotonic() - self._pending_since >= FLUSH_AFTER_S
            ):
                self._hand_over()
        else:
            self.flush()  # runs commit in the order they finished
            rows = RunRows.of(run, events, faults, keep=False)
            with self._write() as conn:
                _insert_run(conn, rows)
            self.stats.events += rows.event_count
        self.stats.runs += 1
        self.stats.write_ns += time.perf_counter_ns() - started

    def flush(self) -> None:
        """Commit every run journalled and not committed yet, and wait until they are.

        A run the store refuses (a duplicate id: a caller's bug) does not hold back the others:
        they are committed, and the first refusal is raised (here or by the next write).
        """
        if self._pending:
            self._hand_over()
        if self._committer is not None:
            started = time.perf_counter_ns()
            try:
                self._committer.wait()
            finally:
                self.stats.write_ns += time.perf_counter_ns() - started

    def _hand_over(self) -> None:
        """Give the pending runs, with the journal that holds them, to the commit thread; the
        next run starts a new journal."""
        batch, self._pending, self._pending_records = self._pending, [], 0
        held, self._journal = self._journal, None
        if self._committer is None:
            self._committer = Committer()
        self._committer.submit(functools.partial(self._commit, batch), held)

    # -------------------------------------------------------- on the commit thread only
    def _committing_conn(self) -> sqlite3.Connection:
        if self._committer_conn is None:
            self._committer_conn = self._connect()
        return self._committer_conn

    def _commit(self, batch: list[RunRows]) -> Exception | None:
        """Commit ``batch`` in one transaction; returns the first refusal if some run was
        refused (the others are then committed one by one)."""
        conn = self._committing_conn()
        try:
            with self._write(conn):
                insert_runs(conn, batch)
        except (sqlite3.IntegrityError, TypeError):
            return self._commit_one_by_one(conn, batch)
        self.stats.events += sum(rows.event_count for rows in batch)
        return None

    def _commit_one_by_one(
        self, conn: sqlite3.Connection, batch: list[RunRows]
    ) -> sqlite3.IntegrityError | None:
        first: sqlite3.IntegrityError | None = None
        for rows in batch:
            try:
                with self._write(conn):
                    _insert_run(conn, rows)
                self.stats.events += rows.event_count
            except sqlite3.IntegrityError as error:
                first = first or error
        return first

    def _checkpoint(self) -> None:
        conn = self._committing_conn()
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        # The commit thread's work is done: its connection closes with it, not later.
        conn.close()
        self._committer_conn = None

    # ----------------------------------------------------------------------- reading
    def sessions(self) -> list[SessionRow]:
        self.flush()
        cursor = self._conn.execute(
            "SELECT session_id, started_at, ended_at, seed, args, version, exitstatus, workers"
            " FROM sessions ORDER BY started_at, rowid"
        )
        return [
            SessionRow(sid, started, ended, seed, tuple(json.loads(args or "[]")), *rest)
            for sid, started, ended, seed, args, *rest in cursor
        ]

    def latest_session(self) -> str | None:
        self.flush()
        row = self._conn.execute(
            "SELECT session_id FROM sessions ORDER BY"
            " EXISTS (SELECT 1 FROM runs WHERE runs.session_id = sessions.session_id) DESC,"
            " started_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def runs(self, session_id: str | None = None) -> list[RunRow]:
        self.flush()
        where, params = _session_filter(session_id)
        cursor = self._conn.execute(
            "SELECT run_id, session_id, nodeid, seed, repetition, condition, outcome, started_ns,"
            " ended_ns, duration_s, worker, strategies, started_at"
            f" FROM runs {where} ORDER BY nodeid, repetition",
            params,
        )
        return [RunRow(*row) for row in cursor]

    def faults(self, session_id: str | None = None) -> list[FaultResult]:
        self.flush()
        where, params = _session_filter(session_id)
        cursor = self._conn.execute(
            "SELECT faults.fault_id, faults.run_id, faults.kind, faults.target, faults.params,"
            " faults.call_number, faults.injected_ns, faults.detected_ns, faults.recovered_ns,"
            " faults.outcome, faults.strategy, faults.detected_by, faults.propagation"
            f" FROM faults JOIN runs USING (run_id) {where}"
            " ORDER BY faults.run_id, faults.injected_ns",
            params,
        )
        return [_fault_from_row(row) for row in cursor]

    def events(self, run_id: str) -> list[EventRow]:
        self.flush()
        cursor = self._conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [EventRow(*row) for row in cursor]

    def integrity_problems(self) -> list[str]:
        self.flush()
        problems = [row[0] for row in self._conn.execute("PRAGMA quick_check")]
        return [] if problems == ["ok"] else problems

    def events_of_kind(self, kind: str, session_id: str | None = None) -> list[TestEvent]:
        self.flush()
        cursor = self._conn.execute(*kind_query(kind, session_id))
        return [TestEvent(nodeid, EventRow(*event)) for nodeid, *event in cursor]


def _insert_run(conn: sqlite3.Connection, rows: RunRows) -> None:
    """Insert one run's rows, each under the run's new integer key."""
    [(key,)] = conn.execute(_INSERT_RUN, rows.run).fetchall()
    conn.executemany(_INSERT_BATCH, ((key, *row) for row in rows.batches))
    conn.executemany(_INSERT_CALL, ((key, *row) for row in rows.calls))
    conn.executemany(_INSERT_EVENT, ((key, *row) for row in rows.events))
    conn.executemany(_INSERT_FAULT, rows.faults)


def kind_query(kind: str, session_id: str | None) -> tuple[str, tuple[str, ...]]:
    """The SQL (and parameters) of :meth:`EventStore.events_of_kind`.

    ``fault_never_fired`` is read through its partial index, so the report does not slow down
    with the number of calls; the kind is written into the SQL, since SQLite uses a partial
    index only when the query itself implies the index's condition. Every other kind but the
    two of a call is only in ``event_log``: read from the session's runs (by their index on
    ``session_id``), never through the ``events`` view, which SQLite would build whole, every
    session's events and calls, to join it to ``runs``. A call's events read the view.
    """
    where, params = _session_filter(session_id)
    joiner = "AND" if where else "WHERE"
    if kind == NEVER_FIRED:
        source = "event_log AS e JOIN runs ON runs.run_key = e.run_key"
        condition = f"e.kind = '{NEVER_FIRED}'"
    elif kind in (CALL_START, CALL_END):
        source, condition = "events AS e JOIN runs USING (run_id)", "e.kind = ?"
        params = (*params, kind)
    else:
        source, condition = "runs JOIN event_log AS e ON e.run_key = runs.run_key", "e.kind = ?"
        params = (*params, kind)
    sql = (
        "SELECT runs.nodeid, runs.run_id, e.seq, e.ts_ns, e.agent, e.kind, e.fault_id, e.payload"
        f" FROM {source} {where} {joiner} {condition} ORDER BY runs.nodeid, e.seq"
    )
    return sql, params


def _session_filter(session_id: str | None) -> tuple[str, tuple[str, ...]]:
    return ("WHERE runs.session_id = ?", (session_id,)) if session_id else ("", ())


def _run_values(run: RunRow) -> tuple[Any, ...]:
    return (
        run.run_id,
        run.session_id,
        run.nodeid,
        run.seed,
        run.repetition,
        run.condition,
        run.outcome,
        run.started_at or _now_iso(),
        run.started_ns,
        run.ended_ns,
        run.duration_s,
        run.worker,
        run.strategies,
    )


def _fault_values(f: FaultResult) -> tuple[Any, ...]:
    return (
        f.fault_id,
        f.run_id,
        f.kind,
        f.target,
        json.dumps(f.params, default=str),
        f.call_number,
        f.injected_ns,
        f.detected_ns,
        f.recovered_ns,
        f.outcome.value,
        f.strategy,
        f.detected_by,
        f.propagation,
        f.mttd_s,
        f.mttr_s,
    )


def _fault_from_row(row: tuple[Any, ...]) -> FaultResult:
    fault_id, run_id, kind, target, params, call_number, injected, detected, recovered = row[:9]
    outcome, strategy, detected_by, propagation = row[9:]
    return FaultResult(
        fault_id=fault_id,
        run_id=run_id,
        kind=kind,
        target=target,
        params=json.loads(params or "{}"),
        call_number=call_number,
        injected_ns=injected,
        detected_ns=detected,
        recovered_ns=recovered,
        outcome=Outcome(outcome),
        strategy=strategy,
        detected_by=detected_by,
        propagation=propagation or 0,
    )
