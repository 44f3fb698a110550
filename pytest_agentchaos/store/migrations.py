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


#: The only kind the report looks up by kind; ``event_log`` indexes just its rows.
NEVER_FIRED = "fault_never_fired"


def _event_view_arm(kind: str, seq: str, ts: str) -> str:
    return (
        f"SELECT runs.run_id, calls.{seq}, calls.{ts}, calls.agent, '{kind}', NULL, "
        "CAST(calls.number AS TEXT) FROM calls JOIN runs ON runs.run_key = calls.run_key"
    )


def _m002_one_row_per_call(conn: sqlite3.Connection) -> None:
    """A completed agent call is one ``calls`` row instead of two ``events`` rows, and every
    event is keyed by the run's integer key, not its text id.

    Two rows per call, keyed by a random text id, cost ~5 µs each and more as the file grows
    (each run's rows land at a random place in the key's B-tree); one row keyed by integers
    appends at the end. ``events`` becomes a view with the same columns and rows as before: the
    other events (``event_log``, the old rows copied in, old call rows included) and each call
    as its ``call_start`` and ``call_end``. Only ``fault_never_fired`` rows, which the report
    looks up, are indexed by kind: a full index on kind would cost every event another insert.
    """
    conn.execute("ALTER TABLE runs ADD COLUMN run_key INTEGER")
    conn.execute("UPDATE runs SET run_key = rowid")
    conn.execute("CREATE UNIQUE INDEX idx_runs_run_key ON runs (run_key)")
    conn.execute(
        "CREATE TABLE event_log ("
        " run_key INTEGER NOT NULL REFERENCES runs (run_key),"
        " seq INTEGER NOT NULL,"
        " ts_ns INTEGER,"
        " agent TEXT,"
        " kind TEXT,"
        " fault_id TEXT,"
        " payload TEXT,"
        " PRIMARY KEY (run_key, seq)"
        ") WITHOUT ROWID"
    )
    conn.execute(
        "INSERT INTO event_log SELECT runs.run_key, events.seq, events.ts_ns, events.agent,"
        " events.kind, events.fault_id, events.payload FROM events JOIN runs USING (run_id)"
    )
    conn.execute("DROP TABLE events")
    conn.execute(
        f"CREATE INDEX idx_event_log_never_fired ON event_log (kind) WHERE kind = '{NEVER_FIRED}'"
    )
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
        " SELECT runs.run_id, e.seq, e.ts_ns, e.agent, e.kind, e.fault_id, e.payload"
        " FROM event_log AS e JOIN runs ON runs.run_key = e.run_key"
        f" UNION ALL {_event_view_arm(CALL_START, 'seq', 'start_ns')}"
        f" UNION ALL {_event_view_arm(CALL_END, 'end_seq', 'end_ns')}"
    )


#: The columns of a call, from a ``call_batches`` row ``b`` and one element ``j`` of its array:
#: call k of a batch starts at event ``b.seq + 2k`` and ends at the next one.
_BATCHED_CALL = (
    "b.run_key, b.seq + 2 * j.key AS seq, b.seq + 2 * j.key + 1 AS end_seq,"
    " j.value ->> 2 AS agent, j.value ->> 3 AS number, j.value ->> 0 AS start_ns,"
    " j.value ->> 1 AS end_ns FROM call_batches AS b, json_each(b.calls) AS j"
)


def _m003_call_batches(conn: sqlite3.Connection) -> None:
    """Consecutive completed calls are one ``call_batches`` row (a JSON array of
    ``[start_ns, end_ns, agent, number]``) instead of a row each; ``calls`` becomes a view.

    A row per call costs SQLite about 2 µs to insert, as much as the call it records costs
    the engine; a batch of a thousand costs about a tenth of that per call. The calls recorded
    as two events (``call_rows``, the old ``calls`` table) stay rows. The ``calls`` and
    ``events`` views show both as before: the same columns and rows.
    """
    conn.execute("DROP VIEW events")
    conn.execute("ALTER TABLE calls RENAME TO call_rows")
    conn.execute(
        "CREATE TABLE call_batches ("
        " run_key INTEGER NOT NULL REFERENCES runs (run_key),"
        " seq INTEGER NOT NULL,"
        " calls TEXT NOT NULL,"
        " PRIMARY KEY (run_key, seq)"
        ") WITHOUT ROWID"
    )
    conn.execute(
        "CREATE VIEW calls AS"
        " SELECT run_key, seq, end_seq, agent, number, start_ns, end_ns FROM call_rows"
        f" UNION ALL SELECT {_BATCHED_CALL}"
    )
    # Each table its own arm (not the `calls` view): a query for one run then reads only that
    # run's rows of each table.
    arms = [
        f"SELECT runs.run_id, c.{seq}, c.{ts}, c.agent, '{kind}', NULL, CAST(c.number AS TEXT)"
        f" FROM {source} AS c JOIN runs ON runs.run_key = c.run_key"
        for source in ("call_rows", f"(SELECT {_BATCHED_CALL})")
        for kind, seq, ts in ((CALL_START, "seq", "start_ns"), (CALL_END, "end_seq", "end_ns"))
    ]
    conn.execute(
        "CREATE VIEW events AS"
        " SELECT runs.run_id, e.seq, e.ts_ns, e.agent, e.kind, e.fault_id, e.payload"
        " FROM event_log AS e JOIN runs ON runs.run_key = e.run_key"
        f" UNION ALL {' UNION ALL '.join(arms)}"
    )


#: Named migrations, applied in order.
MIGRATIONS: tuple[tuple[str, Callable[[sqlite3.Connection], None]], ...] = (
    ("001_initial", _m001_initial),
    ("002_one_row_per_call", _m002_one_row_per_call),
    ("003_call_batches", _m003_call_batches),
)
SCHEMA_VERSION = len(MIGRATIONS)
