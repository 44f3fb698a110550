"""Overhead of chaos wrapping and of the event store, measured side by side in one run.

    python bench/overhead.py

Prints per-call times of a raw call, an ``@agent`` call outside a chaos run, the same call inside
a run with no fault firing (events recorded), and the event store's insert rate beside raw
``sqlite3.executemany`` of the same rows. Ratios matter, not absolute numbers: the machine's
load moves both sides of each pair alike. Not a test: nothing here asserts.
"""

from __future__ import annotations

import sys
import tempfile
import time
import timeit
from pathlib import Path

from pytest_agentchaos import agent
from pytest_agentchaos.config.settings import SessionSettings
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.session import ChaosSession

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
        inside = per_call_ns("wrapped(1)", namespace, setup="run.log.clear()")
        run.add_fault(parse_fault("delay", {"target": "trivial", "probability": 0.0}))
        armed = per_call_ns("wrapped(1)", namespace, setup="run.log.clear()")
        # A probability above 0 that never fires: the seeded draw runs on every call.
        run.add_fault(parse_fault("hang", {"target": "trivial", "probability": 1e-12}))
        drawn = per_call_ns("wrapped(1)", namespace, setup="run.log.clear()")
    finally:
        activate(None)
    return {"raw": raw, "outside": outside, "inside": inside, "armed": armed, "drawn": drawn}


def all_in(tests: int, calls_per_test: int) -> dict[str, float]:
    """Per call: a loop of raw calls, and the same loop as chaos tests written to a store."""
    loop = range(calls_per_test)
    with tempfile.TemporaryDirectory() as tmp:
        settings = SessionSettings(enabled=True, seed=1, db=Path(tmp) / "events.db")
        session = ChaosSession(settings, session_id="bench", seed=1, worker="main")
        session.store.migrate()
        session.store.start_session("bench", 1, [], "bench", 0)
        faults = [parse_fault("crash", {"target": "elsewhere"})]
        best_raw = best_all_in = float("inf")
        for _ in range(REPEATS):
            start = time.perf_counter()
            for _test in range(tests):
                for n in loop:
                    trivial(n)
            best_raw = min(best_raw, time.perf_counter() - start)
            start = time.perf_counter()
            for test in range(tests):
                run = session.start_run(f"bench.py::test_{test}", 0, faults, {}, {})
                for n in loop:
                    wrapped(n)
                session.finish_run(run, "passed", time.time())
            best_all_in = min(best_all_in, time.perf_counter() - start)
        stats = session.store.stats
        session.close()
    total = tests * calls_per_test
    return {
        "raw": best_raw / total * 1e9,
        "all_in": best_all_in / total * 1e9,
        "write_per_test_us": stats.write_ns / stats.runs / 1e3,
    }


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    if quick:
        global CALLS, REPEATS
        CALLS, REPEATS = 20_000, 3
    calls = call_overhead()
    tests, per_test = (50, 100) if quick else (300, 100)
    suite = all_in(tests, per_test)
    raw = calls["raw"]
    print(f"python {sys.version.split()[0]} · {CALLS:,} calls x best of {REPEATS}")
    print(f"{'raw call':<40} {raw:8.0f} ns   1.00x")
    for label, key in (
        ("@agent, outside a chaos run", "outside"),
        ("@agent, inside a run, no fault armed here", "inside"),
        ("@agent, inside a run, fault armed (p=0)", "armed"),
        ("@agent, + fault drawn each call (p>0)", "drawn"),
    ):
        value = calls[key]
        print(f"{label:<40} {value:8.0f} ns   {value / raw:4.2f}x   (+{value - raw:.0f} ns)")
    print(f"{'added inside a run vs outside':<40} {calls['inside'] - calls['outside']:8.0f} ns")
    added = suite["all_in"] - suite["raw"]
    print(f"all in: {tests} tests x {per_test} calls, each test's run committed to SQLite")
    print(f"{'raw call, same loop':<40} {suite['raw']:8.0f} ns   1.00x")
    print(
        f"{'@agent in a chaos test, store included':<40} {suite['all_in']:8.0f} ns"
        f"   {suite['all_in'] / suite['raw']:4.2f}x   (+{added:.0f} ns per call)"
    )
    print(f"{'write_run per test (lock wait included)':<40} {suite['write_per_test_us']:8.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
