"""The SQLite store's named migrations: applied in order, recorded in ``_agentchaos_migrations``.

Never edit a migration that has shipped; add another. Each takes the open connection inside the
migrating transaction. ``sqlite_utils`` (and the numpy it loads) is imported by the first one
only, so a session whose file needs no migration never pays for it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

MIGRATIONS_TABLE = "_agentchaos_migrations"

#: Event kinds that the ``calls`` table keeps, one row for both, since 002.
CALL_START, CALL_END = "call_start", "call_end"


def _m001_initial(conn: sqlite3.Connection) -> None:
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db.table("sessions").create(
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
    db.table("runs").create(
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
    db.table("events").create(
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
    db.table("faults").create(
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
    db.table("runs").create_index(["session_id"])
    db.table("faults").create_index(["run_id"])
    db.table("faults").create_index(["kind", "target"])


def _event_view_arm(kind: str, seq: str, ts: str) -> str:
    return (
        f"SELECT runs.run_id, calls.{seq}, calls.{ts}, calls.agent, '{kind}', NULL, "
        "CAST(calls.number AS TEXT) FROM calls JOIN runs ON runs.run_key = calls.run_key"
    )


def _m002_one_row_per_call(conn: sqlite3.Connection) -> None:
    """A completed agent call is one ``calls`` row instead of two ``events`` rows.

    Two rows of a text-keyed table per call cost ~5 µs each; one row keyed by integers costs a
    fraction of that. ``events`` becomes a view with the same columns and rows as before: the
    other events (in ``event_log``, the old table renamed, old call rows included) and each call
    as its ``call_start`` and ``call_end``. ``event_log.kind`` is indexed for the report.
    """
    conn.execute("ALTER TABLE runs ADD COLUMN run_key INTEGER")
    conn.execute("UPDATE runs SET run_key = rowid")
    conn.execute("CREATE UNIQUE INDEX idx_runs_run_key ON runs (run_key)")
    conn.execute("ALTER TABLE events RENAME TO event_log")
    conn.execute("CREATE INDEX idx_event_log_kind ON event_log (kind)")
    conn.execute(
        "CREATE TABLE calls ("
        " run_key INTEGER NOT NULL REFERENCES runs (run_key),"
        " seq INTEGER NOT NULL,"
        " end_seq INTEGER NOT NULL,"
        " agent TEXT NOT NULL,"
        " number INTEGER NOT NULL,"
        " start_ns INTEGER NOT NULL,"
        " end_ns INTEGER NOT NULL,"
        " PRIMARY KEY (run_key, seq)"
        ") WITHOUT ROWID"
    )
    conn.execute(
        "CREATE VIEW events AS"
        " SELECT run_id, seq, ts_ns, agent, kind, fault_id, payload FROM event_log"
        f" UNION ALL {_event_view_arm(CALL_START, 'seq', 'start_ns')}"
        f" UNION ALL {_event_view_arm(CALL_END, 'end_seq', 'end_ns')}"
    )


#: Named migrations, applied in order.
MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("001_initial", _m001_initial),
    ("002_one_row_per_call", _m002_one_row_per_call),
)
SCHEMA_VERSION = len(MIGRATIONS)
