"""What a chaos run costs a user's suite, measured the way they meet it: whole pytest runs.

    python bench/suite.py [--quick] [--tests N] [--calls N] [--repeats N] [--verbose]

A synthetic suite (default 1000 tests x 100 calls of a ~1 µs agent) is run, side by side in one
go and in rounds that take turns, under six conditions: plain pytest, ``--chaos`` with no fault,
``--chaos`` with a p=0.1 crash recovered by ``retry`` (no backoff); each serially and with
``-n 2``. Prints the median wall time of each, its ratio to plain pytest in the same mode (the
median over rounds of each round's ratio to that round's plain run), and
under ``--chaos`` the store's write time per test (``write_run``, lock wait included) and its
lock wait per test (how long a worker waited for another's commit). Ratios matter, not absolute
numbers: the machine's load moves every condition alike. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUITE = """
import os
import pytest
from pytest_agentchaos import agent

CALLS = int(os.environ["BENCH_CALLS"])
if os.environ.get("BENCH_CRASH"):
    # No backoff: the bench measures what the plugin costs, not the retry's sleeping.
    pytestmark = [
        pytest.mark.chaos_crash(target="work", probability=0.1),
        pytest.mark.chaos_settings(retry_attempts=6, retry_backoff=0),
    ]


@agent("work")
def work(x):
    # About 1 µs of work, as the suite of issue 9 specifies (a bare `x + 1` is 30 ns).
    return sum(range(x, x + 150))


@pytest.mark.parametrize("i", range(int(os.environ["BENCH_TESTS"])))
def test_calls(agentchaos, i):
    total = 0
    for n in range(CALLS):
        total += work(n)
    assert total == 150 * CALLS * (CALLS - 1) // 2 + CALLS * (150 * 149 // 2)
"""

CONFTEST = '''
import json
import os
import pytest


@pytest.fixture(scope="session", autouse=True)
def _store_stats(request):
    """Writes the store's write statistics of this process (worker) at the end."""
    chaos = request.config.getoption("--chaos")
    store = request.getfixturevalue("agentchaos_store") if chaos else None
    yield
    if store is not None:
        stats = store.stats
        name = os.environ.get("PYTEST_XDIST_WORKER", "main")
        out = os.path.join(os.environ["BENCH_STATS"], name + ".json")
        with open(out, "w") as f:
            json.dump({"runs": stats.runs, "lock_wait_ns": stats.lock_wait_ns,
                       "max_lock_wait_ns": stats.max_lock_wait_ns, "write_ns": stats.write_ns}, f)
'''

CONDITIONS = {
    "plain": [],
    "chaos, no fault": ["--chaos", "--chaos-seed=1"],
    "chaos, p=0.1 crash + retry": ["--chaos", "--chaos-seed=1", "--chaos-strategy=retry"],
}


def run_once(
    suite: Path, args: list[str], workers: int, tests: int, calls: int
) -> dict[str, float]:
    stats_dir = Path(tempfile.mkdtemp(dir=suite))
    env = {
        **os.environ,
        "BENCH_TESTS": str(tests),
        "BENCH_CALLS": str(calls),
        "BENCH_STATS": str(stats_dir),
    }
    # A user's repeated runs import cached bytecode. With PYTHONDONTWRITEBYTECODE set (as on
    # some CI images) every run compiles whatever has no cache yet from source: a cost of the
    # environment, not of the plugin, so the bench lets its warm-up run write the cache.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if "--chaos-strategy=retry" in args:
        env["BENCH_CRASH"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:langsmith_plugin", f"--chaos-db={suite / 'events.db'}", *args]
    if workers:
        command += ["-n", str(workers)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=suite, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
    per_process = [json.loads(p.read_text()) for p in stats_dir.glob("*.json")]
    runs = sum(s["runs"] for s in per_process)
    waited = sum(s["lock_wait_ns"] for s in per_process)
    worst = max((s["max_lock_wait_ns"] for s in per_process), default=0)
    written = sum(s["write_ns"] for s in per_process)
    return {
        "wall": wall,
        "write_ms": written / runs / 1e6 if runs else float("nan"),
        "lock_wait_ms": waited / runs / 1e6 if runs else float("nan"),
        "max_wait_ms": worst / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 tests, one round")
    parser.add_argument("--tests", type=int)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--verbose", action="store_true", help="also print every round's times")
    options = parser.parse_args()
    tests = options.tests or (200 if options.quick else 1000)
    repeats = options.repeats or (1 if options.quick else 5)
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp)
        (suite / "test_synthetic.py").write_text(SUITE)
        (suite / "conftest.py").write_text(CONFTEST)
        # Not measured: the store's first open migrates it (loading sqlite_utils), which a
        # user's suite pays once, not on every run.
        run_once(suite, CONDITIONS["chaos, no fault"], 0, 10, options.calls)
        for _ in range(repeats):
            for workers in (0, 2):
                for name, args in CONDITIONS.items():
                    measured = run_once(suite, args, workers, tests, options.calls)
                    results.setdefault((name, workers), []).append(measured)
    if options.verbose:
        for key, rows in results.items():
            print(key, [round(r["wall"], 2) for r in rows])
    python = sys.version.split()[0]
    print(f"{tests} tests x {options.calls} calls · median of {repeats} · python {python}")
    print(
        f"{'condition':<30} {'mode':<8} {'wall s':>8} {'vs plain':>9}"
        f" {'write/test':>11} {'lock wait/test':>15} {'max wait':>10}"
    )
    for workers in (0, 2):
        plain_walls = [r["wall"] for r in results["plain", workers]]
        for name in CONDITIONS:
            rows = results[name, workers]
            wall = statistics.median(r["wall"] for r in rows)
            # Each round's ratio to the plain run just before it, then their median: the
            # machine's load drifts between rounds, less within one.
            ratio = statistics.median(r["wall"] / p for r, p in zip(rows, plain_walls, strict=True))
            wait = statistics.median(r["lock_wait_ms"] for r in rows)
            write = statistics.median(r["write_ms"] for r in rows)
            worst = max(r["max_wait_ms"] for r in rows)
            mode = f"-n {workers}" if workers else "serial"
            lock = "" if name == "plain" else f"{wait:12.3f} ms"
            store = "" if name == "plain" else f"{write:8.3f} ms"
            most = "" if name == "plain" else f"{worst:7.1f} ms"
            print(
                f"{name:<30} {mode:<8} {wall:8.2f} {ratio:8.2f}x {store:>11} {lock:>15} {most:>10}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
