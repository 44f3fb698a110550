"""What several test files need: running pytest as users do, reading what it stored, building
real stores with known firings, and driving a ChaosRun directly."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.store.sqlite import EventStore, RunRow

# langsmith's pytest plugin (installed with the langgraph extra) costs ~1.4 s per process
NO_SLOW_PLUGINS = ("-p", "no:langsmith_plugin")
XDIST = ("-p", "xdist", "-n", "2")


def output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


def run_subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in its own process (for xdist, signals and import checks), without slow plugins."""
    return pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, *args)


def assert_usage_error(result: pytest.RunResult, *fragments: str) -> str:
    """The session stopped with pytest's usage error (exit code 4), no INTERNALERROR, and the
    message names every fragment."""
    text = output(result)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, text
    assert "INTERNALERROR" not in text, text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} missing from:\n{text}"
    return text


def rows(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """The rows of a query on a store, as dicts."""
    with closing(sqlite3.connect(db)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]


def query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows of a query on a store, as tuples."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def wait_until(condition: Callable[[], object], timeout: float, pause: float = 0.05) -> bool:
    """Ask ``condition`` every ``pause`` seconds until it holds or ``timeout`` seconds have
    passed; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
    return True


def hold_write_lock(db: Path, seconds: float, held: threading.Event) -> None:
    """Hold the store's write lock for ``seconds`` (as another writer would); ``held`` is set
    once it is taken. Run it in a thread."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


def json_report(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


# ------------------------------------------------ real stores with known firings (reports, CLI)
MS = 1_000_000  # ns


def firing(
    n: int, mttr_ns: int | None, kind: str = "crash", target: str = "pricing"
) -> FaultResult:
    """One crash firing of run ``r<n>``, recovered ``mttr_ns`` after detection (None: never)."""
    detected = 1_000 + n * 100 * MS
    return FaultResult(
        fault_id=f"f{n}",
        run_id=f"r{n}",
        kind=kind,
        target=target,
        params={},
        call_number=1,
        injected_ns=detected - 1_000,
        detected_ns=detected,
        recovered_ns=None if mttr_ns is None else detected + mttr_ns,
        outcome=Outcome.RECOVERED if mttr_ns is not None else Outcome.UNRECOVERED,
        strategy=None,
        detected_by="AgentCrashed",
        propagation=0,
    )


def write_store(
    path: Path, firings: Sequence[FaultResult], session: str = "s", nodeid: str = "t.py::t"
) -> None:
    """A real store with one session and one run per firing, as a chaos session leaves it."""
    with EventStore.open(path) as store:
        store.start_session(session, 1, ["--chaos"], "test", 0)
        for f in firings:
            run = RunRow(f.run_id, session, nodeid, 1, 0, "chaos", "passed", 0, 1, 0.0, "main", "")
            store.write_run(run, [], [f])


# ------------------------------------------------------ a ChaosRun driven without the plugin
def make_run(*faults: tuple[str, dict[str, Any]], run_id: str = "run-1", **kwargs: Any) -> ChaosRun:
    """A run of ``tests/test_x.py::test_y`` with seed 1234 and these ``(kind, arguments)``."""
    return ChaosRun(
        run_id=run_id,
        nodeid="tests/test_x.py::test_y",
        seed=1234,
        faults=[parse_fault(kind, arguments) for kind, arguments in faults],
        **kwargs,
    )


@contextmanager
def active(run: ChaosRun) -> Iterator[ChaosRun]:
    """``run`` is the active run inside the block; the previous one after it."""
    previous = activate(run)
    try:
        yield run
    finally:
        activate(previous)
