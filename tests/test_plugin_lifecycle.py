"""The run around each test, as the store records it: when a failing test detects, what an
interrupted test is stored as, what the session row keeps of the command line, and that a
finished run is not kept alive for the rest of the session.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import NO_SLOW_PLUGINS, output, rows, wait_until

TEARDOWN_S = 0.4


def test_a_failing_test_detects_at_the_end_of_its_call_not_after_teardown(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        f"""
        import time
        import pytest
        from pytest_agentchaos import agent

        @agent("pricing")
        def price():
            return {{"price": 10.0}}

        @pytest.fixture
        def slow_teardown():
            yield
            time.sleep({TEARDOWN_S})

        @pytest.mark.chaos_hallucination(target="pricing", field="price", value=-1.0)
        def test_wrong_price(slow_teardown):
            assert price()["price"] == 10.0
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    db = pytester.path / "s.db"
    (fault,) = rows(db, "SELECT * FROM faults")
    (run,) = rows(db, "SELECT * FROM runs")
    assert fault["outcome"] == "unrecovered"
    assert fault["detected_by"] == "test failed"
    # The detection precedes the teardown's sleep: the run ended at least that much later.
    assert run["ended_ns"] - fault["detected_ns"] >= TEARDOWN_S * 1e9
    assert fault["mttd_s"] < TEARDOWN_S


def test_a_finished_run_is_released_from_the_item(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import gc
        import weakref
        import pytest
        from pytest_agentchaos import agent
        from pytest_agentchaos.engine.injection import current_run

        RUNS = []

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_delay(target="a", seconds=0.0)
        def test_first():
            a()
            RUNS.append(weakref.ref(current_run()))

        @pytest.mark.chaos_delay(target="a", seconds=0.0)
        def test_second():
            gc.collect()
            assert RUNS[0]() is None, gc.get_referrers(RUNS[0]())
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-db=s.db")
    result.assert_outcomes(passed=2)


def test_secrets_in_the_command_line_are_not_stored(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        def pytest_addoption(parser):
            parser.addoption("--openai-key")
            parser.addoption("--api-token")
            parser.addoption("--label")
        """
    )
    pytester.makepyfile("def test_a():\n    pass\n")
    secret = "sk-proj-" + "A1b2C3d4" * 6
    result = pytester.runpytest(
        "--chaos",
        "--chaos-db=s.db",
        f"--openai-key={secret}",
        "--api-token",
        "hunter2hunter2",
        f"--label=uses {secret} inline",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.OK, output(result)
    (session,) = rows(pytester.path / "s.db", "SELECT args FROM sessions")
    args = json.loads(session["args"])
    assert "--openai-key=***" in args
    assert args[args.index("--api-token") + 1] == "***"
    assert "--label=uses *** inline" in args
    assert "--chaos-db=s.db" in args  # the rest is kept as given
    assert secret not in session["args"]
    assert "hunter2" not in session["args"]


# ------------------------------------------------------------------------ interrupts
SLEEPER = """
import os, pathlib, time
import pytest
from pytest_agentchaos import agent

@agent("a")
def a():
    return 1

@pytest.mark.parametrize("n", range({count}))
@pytest.mark.chaos_delay(target="a", seconds=0.0)
def test_sleep(n):
    pathlib.Path(f"started-{{n}}").write_text(str(os.getpid()))
    a()
    time.sleep({sleep})
    pathlib.Path(f"done-{{n}}").write_text("")
"""


def _start(path: Path, count: int, sleep: float, *args: str) -> subprocess.Popen[bytes]:
    (path / "test_sleep.py").write_text(SLEEPER.format(count=count, sleep=sleep))
    command = [sys.executable, "-m", "pytest", *NO_SLOW_PLUGINS, "-p", "no:cacheprovider"]
    return subprocess.Popen(
        [*command, "--chaos", "--chaos-db=s.db", *args],
        cwd=path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _wait_for(path: Path, pattern: str, timeout: float = 60.0) -> list[Path]:
    if not wait_until(lambda: any(path.glob(pattern)), timeout):
        raise AssertionError(f"nothing matched {pattern} within {timeout} s")
    return sorted(path.glob(pattern))


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return status.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


def _runs(path: Path) -> dict[str, str]:
    """test parameter -> stored outcome."""
    stored = rows(path / "s.db", "SELECT nodeid, outcome FROM runs")
    return {row["nodeid"].split("[")[1].rstrip("]"): row["outcome"] for row in stored}


@pytest.mark.slow
def test_ctrl_c_stores_the_interrupted_test_as_interrupted(tmp_path: Path) -> None:
    process = _start(tmp_path, count=3, sleep=30)
    _wait_for(tmp_path, "started-0")
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out.decode()
    assert _runs(tmp_path) == {"0": "interrupted"}
    (session,) = rows(tmp_path / "s.db", "SELECT exitstatus, ended_at FROM sessions")
    assert session["exitstatus"] == pytest.ExitCode.INTERRUPTED
    assert session["ended_at"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["2", "4"])
def test_killed_xdist_controller_leaves_no_run_passed_that_never_reported(
    tmp_path: Path, workers: str
) -> None:
    count = 2 * int(workers)
    process = _start(tmp_path, count, 3.0, "-p", "xdist", "-n", workers)
    started = _wait_for(tmp_path, "started-*")
    time.sleep(0.2)
    process.kill()
    process.communicate(timeout=60)  # the workers hold its output open until they exit
    worker_pids = {int(p.read_text()) for p in tmp_path.glob("started-*") if p.read_text()}
    wait_until(lambda: not any(_alive(pid) for pid in worker_pids), timeout=60, pause=0.1)
    assert started
    # The controller died 0.2 s into tests that sleep 3 s: none could report to it. Workers
    # finish their test bodies, but a run that pytest never reported is not `passed`.
    outcomes = _runs(tmp_path)
    assert set(outcomes.values()) <= {"interrupted"}, outcomes
    (session,) = rows(tmp_path / "s.db", "SELECT exitstatus, ended_at FROM sessions")
    assert session["ended_at"] is None  # never closed: the controller died
