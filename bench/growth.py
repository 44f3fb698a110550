"""How a chaos run's cost grows with the number of calls: no step may cost more per call as the
run gets longer, memory may not grow from test to test, and the report may not read the calls.

    python bench/growth.py [--quick] [--sizes 1000,10000,...]

For each size (default 1e3, 1e4, 1e5, 1e6 calls; ``--quick`` stops at 1e5) one pytest session
under ``--chaos`` makes that many agent calls, all in one test, then spread over 100 tests.
Prints the session's wall time, wall time per call, its peak RSS (from the kernel, for the whole
process), the store's size on disk, and how long the report takes to build from that store
(in this process, median of 5), and the wall time each call added beyond the smallest size
(start-up and per-test costs cancel out). Ratios between sizes matter, not absolute numbers:
the machine's load moves them all alike. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_agentchaos.report.build import build_report
from pytest_agentchaos.store.sqlite import EventStore

SUITE = """
import os
import pytest
from pytest_agentchaos import agent

TESTS = int(os.environ["GROWTH_TESTS"])
CALLS = int(os.environ["GROWTH_CALLS"]) // TESTS


@agent("work")
def work(x):
    return x


@pytest.mark.chaos_crash(target="work", at_call=[CALLS + 1])  # armed, never fires
@pytest.mark.parametrize("i", range(TESTS))
def test_calls(agentchaos, i):
    for n in range(CALLS):
        work(n)
"""


def session(directory: Path, calls: int, tests: int) -> dict[str, float]:
    db = directory / f"{calls}-{tests}.db"
    env = {**os.environ, "GROWTH_CALLS": str(calls), "GROWTH_TESTS": str(tests)}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:langsmith_plugin", "--chaos", "--chaos-seed=1", f"--chaos-db={db}"]
    start = time.perf_counter()
    child = subprocess.Popen(
        command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(
            f"{' '.join(command)} failed: {child.stderr.read() if child.stderr else ''}"
        )
    return {
        "wall": wall,
        "rss_mib": usage.ru_maxrss / 1024,  # kilobytes on Linux
        "db_mib": sum(p.stat().st_size for p in directory.glob(f"{db.name}*")) / 2**20,
        "report_ms": report_time(db),
    }


def report_time(db: Path) -> float:
    with EventStore.read(db) as store:
        latest = store.latest_session()
        times = []
        for _ in range(5):
            start = time.perf_counter()
            build_report(store, latest, 1)
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 1e3, 1e4, 1e5")
    parser.add_argument("--sizes", help="comma-separated call counts")
    options = parser.parse_args()
    default = "1000,10000,100000" if options.quick else "1000,10000,100000,1000000"
    sizes = [int(float(size)) for size in (options.sizes or default).split(",")]
    print(f"python {sys.version.split()[0]} · one pytest --chaos session per row")
    print(
        f"{'calls':>9} {'tests':>6} {'wall s':>8} {'µs/call':>8} {'peak RSS MiB':>13}"
        f" {'DB MiB':>8} {'report ms':>10} {'µs/call added':>14}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "test_growth.py").write_text(SUITE)
        for tests in (1, 100):
            smallest: dict[str, float] = {}
            for calls in sizes:
                row = session(directory, calls, tests)
                # Beyond the smallest size: start-up and per-test costs cancel out.
                added = (
                    f"{(row['wall'] - smallest['wall']) / (calls - smallest['calls']) * 1e6:14.2f}"
                    if smallest
                    else f"{'-':>14}"
                )
                smallest = smallest or {"wall": row["wall"], "calls": calls}
                print(
                    f"{calls:>9} {tests:>6} {row['wall']:8.2f} {row['wall'] / calls * 1e6:8.2f}"
                    f" {row['rss_mib']:13.1f} {row['db_mib']:8.2f} {row['report_ms']:10.2f}"
                    f" {added}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
