"""Acceptance tests, run from outside with pytester: seeded fault schedules (replay by seed,
also under ``-n 2``), ``--chaos-runs`` repetitions.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from helpers import NO_SLOW_PLUGINS, query

# Four chaos tests, 40 calls each, a fault with probability 0.5.
SCHEDULE = """
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("a")
def a(n):
    return n

@agent("b")
def b(n):
    return n

def calls(fn, count=40):
    for n in range(count):
        try:
            fn(n)
        except AgentCrashed:
            pass

@pytest.mark.chaos_crash(target="a", probability=0.5)
def test_one():
    calls(a)

@pytest.mark.chaos_crash(target="*", probability=0.5)
def test_two():
    calls(a)
    calls(b)

@pytest.mark.chaos_crash(target="b", probability=0.5)
def test_three():
    calls(b)

@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.chaos_crash(target="a", probability=0.5)
def test_param(p):
    calls(a)

def test_plain():
    calls(a)
"""


def firings(pytester: pytest.Pytester, db: str) -> dict[str, list[tuple[str, int]]]:
    """nodeid -> [(target, call_number)] in firing order."""
    rows = query(
        pytester.path / db,
        "SELECT runs.nodeid, faults.target, faults.call_number FROM faults"
        " JOIN runs USING (run_id) ORDER BY runs.nodeid, faults.injected_ns",
    )
    result: dict[str, list[tuple[str, int]]] = {}
    for nodeid, target, call in rows:
        result.setdefault(nodeid, []).append((target, call))
    return result


def ordered_firings(pytester: pytest.Pytester, db: str) -> list[tuple[str, int]]:
    return query(pytester.path / db, "SELECT target, call_number FROM faults ORDER BY injected_ns")


def per_test_counts(pytester: pytest.Pytester, name: str) -> dict[str, tuple[Any, ...]]:
    data = json.loads((pytester.path / name).read_text())
    return {
        t["nodeid"]: (t["seed"], t["outcome"], tuple(f["outcome"] for f in t["faults"]))
        for t in data["tests"]
    }


def test_same_seed_same_firings_other_seed_other_firings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_schedule=SCHEDULE)
    for seed, db in (("7", "one.db"), ("7", "two.db"), ("8", "three.db")):
        result = pytester.runpytest("--chaos", f"--chaos-seed={seed}", f"--chaos-db={db}")
        result.assert_outcomes(passed=6)
    one, two, three = (ordered_firings(pytester, db) for db in ("one.db", "two.db", "three.db"))
    assert one == two
    assert one != three
    per_test = firings(pytester, "one.db")
    assert set(per_test) == {
        "test_schedule.py::test_one",
        "test_schedule.py::test_two",
        "test_schedule.py::test_three",
        "test_schedule.py::test_param[1]",
        "test_schedule.py::test_param[2]",
    }
    # probability 0.5 over 40 calls: about 20 firings each, far from 0 and 40
    for nodeid, fired in per_test.items():
        per_target: dict[str, int] = {}
        for target, _ in fired:
            per_target[target] = per_target.get(target, 0) + 1
        for count in per_target.values():
            assert 8 <= count <= 32, (nodeid, count)
    # each test has its own derived schedule
    assert (
        per_test["test_schedule.py::test_param[1]"] != per_test["test_schedule.py::test_param[2]"]
    )
    assert {t for t, _ in per_test["test_schedule.py::test_two"]} == {"a", "b"}


@pytest.mark.slow
def test_serial_and_xdist_give_the_same_schedule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_schedule=SCHEDULE)
    gate = "--chaos-min-recovery-rate=1"
    serial = pytester.runpytest(
        "--chaos", "--chaos-seed=21", "--chaos-db=serial.db", "--chaos-report=serial.json", gate
    )
    serial.assert_outcomes(passed=6)
    parallel = pytester.runpytest_subprocess(
        *NO_SLOW_PLUGINS,
        "-p",
        "xdist",
        "-n",
        "2",
        "--chaos",
        "--chaos-seed=21",
        "--chaos-db=xdist.db",
        "--chaos-report=xdist.json",
        gate,
    )
    parallel.assert_outcomes(passed=6)
    # the gate is computed from the store, the same way in both
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    missed = [ln for ln in serial.stdout.lines if ln.startswith("chaos gate missed: ")]
    assert len(missed) == 1
    assert missed == [ln for ln in parallel.stdout.lines if ln.startswith("chaos gate missed: ")]
    assert firings(pytester, "serial.db") == firings(pytester, "xdist.db")
    assert per_test_counts(pytester, "serial.json") == per_test_counts(pytester, "xdist.json")
    serial_report = json.loads((pytester.path / "serial.json").read_text())
    xdist_report = json.loads((pytester.path / "xdist.json").read_text())
    assert xdist_report["seed"] == 21
    assert xdist_report["totals"] == {
        **serial_report["totals"],
        "mttr_s": xdist_report["totals"]["mttr_s"],
        "mttd_s": xdist_report["totals"]["mttd_s"],
    }
    assert [
        {k: r[k] for k in ("kind", "target", "injected", "unrecovered")}
        for r in xdist_report["rows"]
    ] == [
        {k: r[k] for k in ("kind", "target", "injected", "unrecovered")}
        for r in serial_report["rows"]
    ]
    db = pytester.path / "xdist.db"
    workers = {row[0] for row in query(db, "SELECT worker FROM runs")}
    sessions = query(db, "SELECT seed, workers, exitstatus FROM sessions")
    run_sessions = query(db, "SELECT count(DISTINCT session_id) FROM runs")
    assert workers == {"gw0", "gw1"}
    assert sessions == [(21, 2, int(pytest.ExitCode.TESTS_FAILED))]
    assert run_sessions == [(1,)]
    parallel.stdout.fnmatch_lines(["seed 21 · * faults ·*"])


def test_drawn_seed_is_printed_and_replays_the_schedule(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_schedule=SCHEDULE)
    first = pytester.runpytest("--chaos", "--chaos-db=first.db", "--chaos-report=first.json")
    first.assert_outcomes(passed=6)
    seeds = re.findall(r"^seed (\d+) · ", first.stdout.str(), re.M)
    assert len(seeds) == 1
    seed = int(seeds[0])
    assert json.loads((pytester.path / "first.json").read_text())["seed"] == seed
    assert query(pytester.path / "first.db", "SELECT seed FROM sessions") == [(seed,)]
    again = pytester.runpytest("--chaos", f"--chaos-seed={seed}", "--chaos-db=again.db")
    again.assert_outcomes(passed=6)
    assert ordered_firings(pytester, "again.db") == ordered_firings(pytester, "first.db")
    assert firings(pytester, "again.db") == firings(pytester, "first.db")


def test_chaos_runs_repeats_each_chaos_test_with_its_own_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_runs="""
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        seen_seeds = []

        @pytest.mark.chaos_crash(target="a", probability=0.5)
        def test_marker(agentchaos):
            seen_seeds.append(agentchaos.seed)
            for _ in range(10):
                try:
                    a()
                except AgentCrashed:
                    pass

        def test_fixture_only(agentchaos):
            assert agentchaos.enabled

        @pytest.mark.parametrize("x", ["p", "q"])
        @pytest.mark.chaos_delay(target="a", seconds=0)
        def test_param(x):
            a()

        def test_plain():
            pass

        def test_zz_seeds_differ():
            assert len(seen_seeds) == 3 and len(set(seen_seeds)) == 3
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-runs=3", "--chaos-db=s.db", "-v")
    result.assert_outcomes(passed=3 + 3 + 6 + 2)
    result.stdout.fnmatch_lines(
        [
            "test_runs.py::test_marker?chaos1of3? PASSED*",
            "test_runs.py::test_marker?chaos2of3? PASSED*",
            "test_runs.py::test_marker?chaos3of3? PASSED*",
        ]
    )
    result.stdout.fnmatch_lines(["test_runs.py::test_param?chaos3of3-p? PASSED*"])
    result.stdout.fnmatch_lines(["test_runs.py::test_plain PASSED*"])
    assert "test_plain[" not in result.stdout.str()
    runs = query(
        pytester.path / "s.db", "SELECT nodeid, repetition, seed FROM runs ORDER BY nodeid"
    )
    assert len(runs) == 12
    marker_runs = [r for r in runs if "test_marker" in r[0]]
    assert [(r[0], r[1]) for r in marker_runs] == [
        (f"test_runs.py::test_marker[chaos{i}of3]", i - 1) for i in (1, 2, 3)
    ]
    assert len({r[2] for r in runs}) == 12
    assert not any("test_plain" in r[0] or "seeds_differ" in r[0] for r in runs)


BAD_MARKER = """
        import pathlib
        import pytest

        def test_fine():
            pathlib.Path("ran.txt").write_text("yes")

        @pytest.mark.chaos_crash(target="a", probability=1.5)
        def test_x():
            pathlib.Path("ran.txt").write_text("yes")
        """


@pytest.mark.slow
def test_bad_marker_under_xdist_stops_cleanly_before_any_test_runs(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_bad=BAD_MARKER)
    result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, "-p", "xdist", "-n", "2", "--chaos")
    text = result.stdout.str() + result.stderr.str()
    assert result.ret != pytest.ExitCode.OK, text
    assert "INTERNALERROR" not in text
    assert "test_bad.py::test_x" in text
    assert "probability=1.5" in text
    assert not (pytester.path / "ran.txt").exists()


@pytest.mark.slow
def test_bad_marker_under_xdist_exits_with_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bad=BAD_MARKER)
    result = pytester.runpytest_subprocess(*NO_SLOW_PLUGINS, "-p", "xdist", "-n", "2", "--chaos")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
