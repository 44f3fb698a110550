"""Many runs' rows inserted with one statement per table: the rows travel as one JSON array,
which SQLite takes apart itself (``json_each``).

The store's commit thread (:mod:`.committer`) inserts this way: each statement gives up the
GIL once for all its rows, where ``executemany`` gives it up (and waits to get it back) once per
row. Every value keeps its SQLite type (JSON integers, reals, text and null); the JSON text of
payloads and call batches travels as JSON strings and is stored exactly as it was encoded.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import orjson

__all__ = ["insert_runs"]


class Rows(Protocol):
    """One run's rows (``store.sqlite.RunRows``), as lists."""

    @property
    def run(self) -> tuple[Any, ...]: ...
    @property
    def batches(self) -> Iterable[tuple[Any, ...]]: ...
    @property
    def calls(self) -> Iterable[tuple[Any, ...]]: ...
    @property
    def events(self) -> Iterable[tuple[Any, ...]]: ...
    @property
    def faults(self) -> Iterable[tuple[Any, ...]]: ...


RUN_COLUMNS = (
    "run_id, session_id, nodeid, seed, repetition, condition, outcome, started_at, started_ns,"
    " ended_ns, duration_s, worker, strategies"
)


def _values(first: int, count: int) -> str:
    return ", ".join(f"j.value ->> {i}" for i in range(first, first + count))


# ?1 is the largest run key before the batch; a run's key is ?1 + its place in the batch + 1,
# and a row of another table names its run by that place (its first value).
_RUNS = (
    f"INSERT INTO runs ({RUN_COLUMNS}, run_key)"
    f" SELECT {_values(0, 13)}, ?1 + j.key + 1 FROM json_each(?2) AS j"
)
_OWNED = "INSERT INTO {table} SELECT ?1 + (j.value ->> 0) + 1, {values} FROM json_each(?2) AS j"
_BATCHES = _OWNED.format(table="call_batches", values=_values(1, 2))
_CALLS = _OWNED.format(table="call_rows", values=_values(1, 6))
_EVENTS = _OWNED.format(table="event_log", values=_values(1, 6))
_FAULTS = f"INSERT INTO faults SELECT {_values(0, 15)} FROM json_each(?1) AS j"


def insert_runs(conn: sqlite3.Connection, batch: Sequence[Rows]) -> None:
    """Insert every run of ``batch`` with its rows, under new run keys, in a transaction the
    caller holds. Raises ``sqlite3.IntegrityError`` (nothing inserted) on a duplicate run id,
    and ``TypeError`` for a value JSON cannot carry."""
    [(last_key,)] = conn.execute("SELECT coalesce(max(run_key), 0) FROM runs").fetchall()
    conn.execute(_RUNS, (last_key, _json([rows.run for rows in batch])))
    for statement, part in ((_BATCHES, "batches"), (_CALLS, "calls"), (_EVENTS, "events")):
        owned = [(place, *row) for place, rows in enumerate(batch) for row in getattr(rows, part)]
        if owned:
            conn.execute(statement, (last_key, _json(owned)))
    faults = [fault for rows in batch for fault in rows.faults]
    if faults:
        conn.execute(_FAULTS, (_json(faults),))


def _json(rows: list[Any]) -> str:
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError as error:  # an integer beyond 64 bits, a lone surrogate
        raise TypeError(str(error)) from error
