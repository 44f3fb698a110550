"""Overhead of chaos wrapping and of the event store, measured side by side in one run.

    python bench/overhead.py

Prints per-call times of a raw call, an ``@agent`` call outside a chaos run, the same call inside
a run with no fault firing (events recorded), and the event store's insert rate beside raw
``sqlite3.executemany`` of the same rows. Ratios matter, not absolute numbers: the machine's
load moves both sides of each pair alike. Not a test: nothing here asserts.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
import timeit
from pathlib import Path

from pytest_agentchaos import agent
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.store.sqlite import EventStore, RunRow

CALLS = 200_000
REPEATS = 7


def trivial(x: int) -> int:
    return x


@agent("trivial")
def wrapped(x: int) -> int:
    return x


def per_call_ns(stmt: str, namespace: dict[str, object], setup: str = "pass") -> float:
    timer = timeit.Timer(stmt, setup=setup, globals=namespace)
    return min(timer.repeat(repeat=REPEATS, number=CALLS)) / CALLS * 1e9


def call_overhead() -> dict[str, float]:
    namespace: dict[str, object] = {"trivial": trivial, "wrapped": wrapped}
    raw = per_call_ns("trivial(1)", namespace)
    outside = per_call_ns("wrapped(1)", namespace)
    # Armed but never firing for this agent: a fault at another target, and one at probability 0.
    run = ChaosRun(
        run_id="bench",
        nodeid="bench",
        seed=1,
        faults=[parse_fault("crash", {"target": "elsewhere"})],
    )
    namespace["run"] = run
    activate(run)
    try:
        inside = per_call_ns("wrapped(1)", namespace, setup="run.events.clear()")
        run.add_fault(parse_fault("delay", {"target": "trivial", "probability": 0.0}))
        armed = per_call_ns("wrapped(1)", namespace, setup="run.events.clear()")
    finally:
        activate(None)
    return {"raw": raw, "outside": outside, "inside": inside, "armed": armed}


def store_rates(rows: int = 50_000) -> dict[str, float]:
    events = [(time.monotonic_ns(), "pricing", "call_end", None, n) for n in range(rows)]
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "raw.db"
        conn = sqlite3.connect(raw_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE events (run_id TEXT, seq INTEGER, ts_ns INTEGER, agent TEXT, kind TEXT,"
            " fault_id TEXT, payload TEXT, PRIMARY KEY (run_id, seq))"
        )
        encoded = [("r", seq, ts, a, k, f, str(p)) for seq, (ts, a, k, f, p) in enumerate(events)]
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", encoded)
        conn.execute("COMMIT")
        raw_s = time.perf_counter() - start
        conn.close()
        with EventStore.open(Path(tmp) / "store.db") as store:
            store.start_session("s", 1, [], "bench", 0)
            row = RunRow("r", "s", "bench", 1, 0, "chaos", "passed", 0, 1, 0.0, "main", "none")
            start = time.perf_counter()
            store.write_run(row, events, [])
            store_s = time.perf_counter() - start
    return {"raw": rows / raw_s, "store": rows / store_s}


def main() -> int:
    calls = call_overhead()
    rates = store_rates()
    raw = calls["raw"]
    print(f"python {sys.version.split()[0]} · {CALLS:,} calls x best of {REPEATS}")
    print(f"{'raw call':<40} {raw:8.0f} ns   1.00x")
    for label, key in (
        ("@agent, outside a chaos run", "outside"),
        ("@agent, inside a run, no fault armed here", "inside"),
        ("@agent, inside a run, fault armed (p=0)", "armed"),
    ):
        value = calls[key]
        print(f"{label:<40} {value:8.0f} ns   {value / raw:4.2f}x   (+{value - raw:.0f} ns)")
    print(f"{'added inside a run vs outside':<40} {calls['inside'] - calls['outside']:8.0f} ns")
    print(f"{'raw sqlite3 executemany':<40} {rates['raw']:8.0f} rows/s")
    print(
        f"{'EventStore.write_run (same rows)':<40} {rates['store']:8.0f} rows/s"
        f"   {rates['store'] / rates['raw']:.2f}x raw"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
