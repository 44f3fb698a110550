"""The SQLite event store: sessions, runs, events and fault firings.

One file (default ``.agentchaos/events.db``) in WAL mode, written by every xdist worker.
Writers take ``BEGIN IMMEDIATE``: a deferred transaction that later needs the write lock fails
at once with SQLITE_BUSY_SNAPSHOT under concurrent writers, and the busy timeout never helps.
The schema is versioned by named migrations recorded in ``_agentchaos_migrations`` and by
``PRAGMA user_version``, so a file from a newer version is refused rather than damaged.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_agentchaos.errors import StoreError
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.model.records import EventTuple

_MIGRATIONS_TABLE = "_agentchaos_migrations"


def _m001_initial(db: Any) -> None:
    db["sessions"].create(
        {
            "session_id": str,
            "started_at": str,
            "ended_at": str,
            "seed": int,
            "args": str,
            "version": str,
            "exitstatus": int,
            "workers": int,
        },
        pk="session_id",
    )
    db["runs"].create(
        {
            "run_id": str,
            "session_id": str,
            "nodeid": str,
            "seed": int,
            "repetition": int,
            "condition": str,
            "outcome": str,
            "started_at": str,
            "started_ns": int,
            "ended_ns": int,
            "duration_s": float,
            "worker": str,
            "strategies": str,
        },
        pk="run_id",
        foreign_keys=[("session_id", "sessions")],
    )
    db["events"].create(
        {
            "run_id": str,
            "seq": int,
            "ts_ns": int,
            "agent": str,
            "kind": str,
            "fault_id": str,
            "payload": str,
        },
        pk=("run_id", "seq"),
        foreign_keys=[("run_id", "runs")],
    )
    db["faults"].create(
        {
            "fault_id": str,
            "run_id": str,
            "kind": str,
            "target": str,
            "params": str,
            "call_number": int,
            "injected_ns": int,
            "detected_ns": int,
            "recovered_ns": int,
            "outcome": str,
            "strategy": str,
            "detected_by": str,
            "propagation": int,
            "mttd_s": float,
            "mttr_s": float,
        },
        pk="fault_id",
        foreign_keys=[("run_id", "runs")],
    )
    db["runs"].create_index(["session_id"])
    db["faults"].create_index(["run_id"])
    db["faults"].create_index(["kind", "target"])


#: Named migrations, applied in order; never edit one that has shipped, add another.
MIGRATIONS: tuple[tuple[str, Callable[[Any], None]], ...] = (("001_initial", _m001_initial),)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunRow:
    """One test run (or repetition) as stored in ``runs``."""

    run_id: str
    session_id: str
    nodeid: str
    seed: int
    repetition: int
    condition: str
    outcome: str
    started_ns: int
    ended_ns: int
    duration_s: float
    worker: str
    strategies: str
    started_at: str = ""  # ISO 8601 UTC wall clock at the start; empty: when the row is written


def _now_iso() -> str:
    return iso_time(time.time())


def iso_time(epoch_s: float) -> str:
    """Wall-clock seconds as ISO 8601 UTC with milliseconds, as the store keeps them."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


def _encode(payload: Any) -> str | None:
    if payload is None:
        return None
    if type(payload) is int or type(payload) is str:
        return json.dumps(payload) if type(payload) is str else str(payload)
    return json.dumps(payload, separators=(",", ":"), default=str)


class EventStore:
    """The event store at ``path``; use :meth:`open` (a context manager) or close it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.conn = self._connect()

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str]) -> Iterator[EventStore]:
        store = cls(path)
        try:
            store.migrate()
            yield store
        finally:
            store.close()

    @classmethod
    @contextmanager
    def read(cls, path: str | os.PathLike[str]) -> Iterator[EventStore]:
        """An existing store, for reading: a missing file is an error, not a new store."""
        if not Path(path).is_file():
            raise StoreError(f"no event store at {path}: the file does not exist")
        store = cls(path)
        try:
            found = store.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                (_MIGRATIONS_TABLE,),
            ).fetchone()
            if found is None:
                raise StoreError(f"{path} is not an agentchaos event store (it has no schema)")
            yield store
        finally:
            store.close()

    def _connect(self) -> sqlite3.Connection:
        if self.path.exists() and self.path.is_dir():
            raise StoreError(f"event store {self.path} is a directory, not a database file")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = {
                row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as error:
            conn.close()
            raise StoreError(
                f"{self.path} is not a readable agentchaos event store ({error}); "
                "it was left as it is: move it away or pass another --chaos-db"
            ) from None
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{self.path} has schema version {version}, written by a newer pytest-agentchaos; "
                f"this version knows schema versions up to {SCHEMA_VERSION}. Upgrade "
                "pytest-agentchaos or pass another --chaos-db; the file was left as it is"
            )
        if tables and _MIGRATIONS_TABLE not in tables:
            conn.close()
            raise StoreError(
                f"{self.path} is an SQLite database of something else (tables: "
                f"{', '.join(sorted(tables)[:5])}); it was left as it is: pass another --chaos-db"
            )
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply the migrations this file lacks; returns their names."""
        import sqlite_utils

        self.conn.execute("PRAGMA journal_mode = WAL")
        applied: list[str] = []
        with self._write() as conn:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_MIGRATIONS_TABLE} "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in conn.execute(f"SELECT name FROM {_MIGRATIONS_TABLE}")}
            db = sqlite_utils.Database(conn)
            for name, migration in MIGRATIONS:
                if name in done:
                    continue
                migration(db)
                conn.execute(f"INSERT INTO {_MIGRATIONS_TABLE} VALUES (?, ?)", (name, _now_iso()))
                applied.append(name)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return applied

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
        with self._write() as conn:
            conn.execute(
                "UPDATE sessions SET ended_at = ?, exitstatus = ? WHERE session_id = ?",
                (_now_iso(), exitstatus, session_id),
            )

    def write_run(
        self, run: RunRow, events: Sequence[EventTuple], faults: Sequence[FaultResult]
    ) -> None:
        """Commit one finished run with its events and firings, in one transaction."""
        event_rows = [
            (run.run_id, seq, ts, agent, kind, fault_id, _encode(payload))
            for seq, (ts, agent, kind, fault_id, payload) in enumerate(events)
        ]
        fault_rows = [
            (
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
            for f in faults
        ]
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
                ),
            )
            conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", event_rows)
            conn.executemany(
                "INSERT INTO faults VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                fault_rows,
            )

    # ----------------------------------------------------------------------- reading
    def sessions(self) -> list[dict[str, Any]]:
        cursor = self.conn.execute("SELECT * FROM sessions ORDER BY started_at")
        return _rows(cursor)

    def latest_session(self) -> str | None:
        """The newest session that ran a chaos test (else the newest session)."""
        row = self.conn.execute(
            "SELECT session_id FROM sessions ORDER BY"
            " EXISTS (SELECT 1 FROM runs WHERE runs.session_id = sessions.session_id) DESC,"
            " started_at DESC, rowid DESC LIMIT 1"
        ).fetchone()
        return row[0] if row else None

    def runs(self, session_id: str | None = None) -> list[dict[str, Any]]:
        where, params = _session_filter(session_id, "runs")
        cursor = self.conn.execute(
            f"SELECT * FROM runs {where} ORDER BY nodeid, repetition", params
        )
        return _rows(cursor)

    def faults(self, session_id: str | None = None) -> list[FaultResult]:
        where, params = _session_filter(session_id, "runs")
        cursor = self.conn.execute(
            f"SELECT faults.* FROM faults JOIN runs USING (run_id) {where} "
            "ORDER BY faults.run_id, faults.injected_ns",
            params,
        )
        return [_fault_from_row(row) for row in _rows(cursor)]

    def events(self, run_id: str) -> list[dict[str, Any]]:
        cursor = self.conn.execute("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        return _rows(cursor)


def _session_filter(session_id: str | None, table: str) -> tuple[str, tuple[str, ...]]:
    return (f"WHERE {table}.session_id = ?", (session_id,)) if session_id else ("", ())


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _fault_from_row(row: dict[str, Any]) -> FaultResult:
    return FaultResult(
        fault_id=row["fault_id"],
        run_id=row["run_id"],
        kind=row["kind"],
        target=row["target"],
        params=json.loads(row["params"] or "{}"),
        call_number=row["call_number"],
        injected_ns=row["injected_ns"],
        detected_ns=row["detected_ns"],
        recovered_ns=row["recovered_ns"],
        outcome=Outcome(row["outcome"]),
        strategy=row["strategy"],
        detected_by=row["detected_by"],
        propagation=row["propagation"] or 0,
    )


def events_of_kind(store: EventStore, kind: str, session_id: str | None) -> list[dict[str, Any]]:
    """Every event of ``kind`` in a session (all sessions when ``None``), with its test id."""
    where, params = _session_filter(session_id, "runs")
    joiner = "AND" if where else "WHERE"
    cursor = store.conn.execute(
        f"SELECT runs.nodeid, events.* FROM events JOIN runs USING (run_id) {where} "
        f"{joiner} events.kind = ? ORDER BY runs.nodeid, events.seq",
        (*params, kind),
    )
    return _rows(cursor)
