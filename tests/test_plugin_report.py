"""Acceptance tests, run from outside with pytester: the resilience report (terminal, JSON, md,
csv, html), its contract keys and numbers, the gates, the reproduce line, and
``agentchaos report``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shlex
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import pytest
from report_contract import (
    ROW_KEYS,
    SUMMARY_KEYS,
    TEST_FAULT_KEYS,
    TEST_KEYS,
    TOP_KEYS,
    TOTALS_KEYS,
)

from pytest_agentchaos.cli import main


@dataclass(frozen=True)
class CliRun:
    ret: int
    lines: list[str]
    err: str


@pytest.fixture
def agentchaos_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliRun]:
    """``agentchaos ARGS`` run in-process (no process is needed), in the current directory."""

    def run(*args: str) -> CliRun:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return CliRun(code, out.splitlines(), err)

    return run


def wilson(successes: int, trials: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def load(pytester: pytest.Pytester, name: str = "r.json") -> dict[str, Any]:
    return json.loads((pytester.path / name).read_text())


# One test per outcome: recovered, unrecovered, silent, tolerated.
FOUR_OUTCOMES = """
import time
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("pricing")
def price():
    return {"price": 10.0}

@agent("search")
def search():
    return ["a"]

@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_recovered():
    with pytest.raises(AgentCrashed):
        price()
    time.sleep(0.02)
    assert price() == {"price": 10.0}

@pytest.mark.chaos_crash(target="pricing", at_call=1)
def test_unrecovered():
    with pytest.raises(AgentCrashed):
        price()

@pytest.mark.chaos_hallucination(target="pricing", field="price")
def test_silent():
    price()

@pytest.mark.chaos_delay(target="search", seconds=0.001)
def test_tolerated():
    assert search() == ["a"]
"""


def test_json_report_outcomes_contract_keys_and_wilson_interval(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_outcomes=FOUR_OUTCOMES)
    result = pytester.runpytest("--chaos", "--chaos-seed=11", "--chaos-report=r.json")
    result.assert_outcomes(passed=4)
    assert result.ret == pytest.ExitCode.OK
    data = load(pytester)

    assert set(data) >= TOP_KEYS
    assert data["version"] == 1
    assert data["seed"] == 11
    totals = data["totals"]
    assert set(totals) >= TOTALS_KEYS
    assert set(totals["mttr_s"]) >= SUMMARY_KEYS
    assert set(totals["mttd_s"]) >= SUMMARY_KEYS
    counts = {k: totals[k] for k in ("injected", "recovered", "unrecovered", "silent", "tolerated")}
    assert counts == {"injected": 4, "recovered": 1, "unrecovered": 1, "silent": 1, "tolerated": 1}
    assert totals["recovery_rate"] == pytest.approx(1 / 3)
    assert totals["recovery_rate_ci"] == pytest.approx(list(wilson(1, 3)))
    assert totals["mttr_s"]["p50"] >= 0.02

    for row in data["rows"]:
        assert set(row) >= ROW_KEYS
    by_key = {(r["kind"], r["target"], r["strategy"]): r for r in data["rows"]}
    assert set(by_key) == {
        ("crash", "pricing", "none"),
        ("hallucination", "pricing", "none"),
        ("delay", "search", "none"),
    }
    crash = by_key["crash", "pricing", "none"]
    assert [crash[k] for k in ("injected", "recovered", "unrecovered", "silent", "tolerated")] == [
        2,
        1,
        1,
        0,
        0,
    ]
    # 1 of 2: Wilson 95% interval about [0.095, 0.905]
    assert crash["recovery_rate"] == 0.5
    assert crash["ci_low"] == pytest.approx(0.0945, abs=5e-4)
    assert crash["ci_high"] == pytest.approx(0.9055, abs=5e-4)
    assert crash["mttr_p50_s"] >= 0.02
    assert crash["mttr_p50_s"] == crash["mttr_p95_s"] == crash["mttr_mean_s"]
    delay = by_key["delay", "search", "none"]
    assert delay["tolerated"] == 1
    assert (delay["recovery_rate"], delay["ci_low"], delay["ci_high"]) == (None, None, None)
    silent = by_key["hallucination", "pricing", "none"]
    assert (silent["silent"], silent["recovery_rate"], silent["ci_low"]) == (1, 0.0, 0.0)
    assert silent["ci_high"] == pytest.approx(wilson(0, 1)[1])

    tests = {t["nodeid"]: t for t in data["tests"]}
    assert set(tests) == {
        f"test_outcomes.py::test_{name}"
        for name in ("recovered", "unrecovered", "silent", "tolerated")
    }
    for nodeid, entry in tests.items():
        assert set(entry) >= TEST_KEYS
        assert entry["outcome"] == "passed"
        assert entry["reproduce"] == f"pytest --chaos --chaos-seed=11 '{nodeid}'"
        (fault,) = entry["faults"]
        assert set(fault) >= TEST_FAULT_KEYS
        assert fault["outcome"] == nodeid.rsplit("_", 1)[-1]
    assert tests["test_outcomes.py::test_recovered"]["faults"][0]["mttr_s"] >= 0.02
    assert tests["test_outcomes.py::test_unrecovered"]["faults"][0]["mttr_s"] is None
    # per-test seeds are derived, so they differ from test to test
    assert len({t["seed"] for t in data["tests"]}) == 4

    # the terminal shows the same table
    result.stdout.fnmatch_lines(
        [
            "*agentchaos resilience report*",
            "fault*target*strategy*injected*recovered*unrecovered*silent*tolerated*rate*",
            "crash*pricing*none*2*1*1*0*0*50.0%*9.5, 90.5*",
            "seed 11 · 4 faults · 33.3% recovered · 1 silent · MTTR p50*",
        ]
    )


def test_test_outcomes_are_in_pytests_words(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_passes():
            with pytest.raises(AgentCrashed):
                a()

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_fails():
            a()

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_skips():
            pytest.skip("not today")

        def test_not_a_chaos_test():
            pass
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-report=r.json", "--chaos-db=s.db")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    tests = {t["nodeid"].split("::")[1]: t["outcome"] for t in load(pytester)["tests"]}
    assert tests == {"test_passes": "passed", "test_fails": "failed", "test_skips": "skipped"}
    with closing(sqlite3.connect(pytester.path / "s.db")) as conn:
        stored = dict(conn.execute("SELECT nodeid, outcome FROM runs").fetchall())
    assert {k.split("::")[1]: v for k, v in stored.items()} == tests


# ------------------------------------------------------------------------------ formats
def test_every_report_format_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=FOUR_OUTCOMES)
    result = pytester.runpytest(
        "--chaos",
        "--chaos-seed=3",
        "--chaos-report=out/r.json",
        "--chaos-report=out/r.md",
        "--chaos-report=out/r.csv",
        "--chaos-report=out/r.html",
    )
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "report written: out/r.json",
            "report written: out/r.md",
            "report written: out/r.csv",
            "report written: out/r.html",
        ]
    )
    out = pytester.path / "out"
    data = json.loads((out / "r.json").read_text())
    assert data["totals"]["injected"] == 4

    markdown = (out / "r.md").read_text()
    assert markdown.startswith("# Resilience report")
    assert "seed 3 · 4 faults · 33.3% recovered" in markdown
    assert re.search(r"^\| crash +\| pricing +\| none +\| 2 ", markdown, re.M), markdown

    rows = list(csv.DictReader(io.StringIO((out / "r.csv").read_text())))
    assert len(rows) == len(data["rows"]) == 3
    assert set(rows[0]) >= ROW_KEYS
    crash = next(r for r in rows if r["kind"] == "crash")
    assert (crash["injected"], crash["recovered"], crash["unrecovered"]) == ("2", "1", "1")

    page = (out / "r.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert page.count("<tr>") == 1 + 3
    assert "<td>hallucination</td>" in page
    assert "seed 3 · 4 faults" in page


HOSTILE_AGENT = """
import pytest
from pytest_agentchaos import agent

@agent("=cmd()|<script>x</script>")
def hostile():
    return 1

@pytest.mark.chaos_crash(target="=cmd()|<script>x</script>", at_call=1)
def test_hostile():
    try:
        hostile()
    except Exception:
        hostile()
"""


def test_a_hostile_agent_name_is_inert_in_every_report(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hostile=HOSTILE_AGENT)
    formats = ("md", "csv", "html", "json")
    result = pytester.runpytest("--chaos", *[f"--chaos-report=r.{f}" for f in formats])
    result.assert_outcomes(passed=1)
    assert re.search(
        r"^crash +=cmd\(\)\|<script>x</script> +none +1 +1 ", result.stdout.str(), re.M
    )

    markdown = (pytester.path / "r.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 3
    assert "| crash   | =cmd()\\|\\<script\\>x\\</script\\>" in markdown
    assert "<script>" not in markdown
    [row] = csv.DictReader(io.StringIO((pytester.path / "r.csv").read_text()))
    assert row["target"] == "'=cmd()|<script>x</script>"
    page = (pytester.path / "r.html").read_text()
    assert "<script>" not in page
    assert "<td>=cmd()|&lt;script&gt;x&lt;/script&gt;</td>" in page
    assert load(pytester, "r.json")["rows"][0]["target"] == "=cmd()|<script>x</script>"


def test_report_paths_from_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_report =\n    a.json\n    b.md\n")
    pytester.makepyfile(test_outcomes=FOUR_OUTCOMES)
    pytester.runpytest("--chaos").assert_outcomes(passed=4)
    assert load(pytester, "a.json")["totals"]["injected"] == 4
    assert (pytester.path / "b.md").read_text().startswith("# Resilience report")


# ------------------------------------------------------------------------------ gates
HALF_RECOVERED = """
import time
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("a")
def a():
    return 1

@pytest.mark.chaos_crash(target="a", at_call=1)
def test_recovered():
    with pytest.raises(AgentCrashed):
        a()
    time.sleep(0.03)
    assert a() == 1

@pytest.mark.chaos_crash(target="a", at_call=1)
def test_unrecovered():
    with pytest.raises(AgentCrashed):
        a()
"""


def test_missed_recovery_rate_gate_fails_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=HALF_RECOVERED)
    result = pytester.runpytest("--chaos", "--chaos-min-recovery-rate=0.9")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*chaos gate missed: --chaos-min-recovery-rate=0.9: recovery rate was 0.500, "
            "40.0 points short*"
        ]
    )


def test_missed_mttr_gate_fails_the_session(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=HALF_RECOVERED)
    result = pytester.runpytest("--chaos", "--chaos-max-mttr=0.01", "--chaos-report=r.json")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    p95 = load(pytester)["totals"]["mttr_s"]["p95"]
    assert p95 >= 0.03
    result.stdout.fnmatch_lines(
        [f"*chaos gate missed: --chaos-max-mttr=0.01: MTTR p95 was {p95:.3f} s, *s over*"]
    )


def test_both_gates_missed_are_both_reported(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nchaos_min_recovery_rate = 0.75\nchaos_max_mttr = 0.001\n")
    pytester.makepyfile(test_gate=HALF_RECOVERED)
    result = pytester.runpytest("--chaos")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*chaos gate missed: *0.75: recovery rate was 0.500, 25.0 points short*",
            "*chaos gate missed: *0.001: MTTR p95 was *",
        ]
    )


@pytest.mark.parametrize(
    "gates",
    [
        ["--chaos-min-recovery-rate=0.5"],
        ["--chaos-min-recovery-rate=0.4", "--chaos-max-mttr=5"],
        ["--chaos-max-mttr=5"],
    ],
)
def test_gates_met_exit_zero(pytester: pytest.Pytester, gates: list[str]) -> None:
    pytester.makepyfile(test_gate=HALF_RECOVERED)
    result = pytester.runpytest("--chaos", *gates)
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    assert "chaos gate missed" not in result.stdout.str()


def test_missed_gate_keeps_the_failed_tests_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=HALF_RECOVERED + "\ndef test_broken():\n    assert False\n")
    result = pytester.runpytest("--chaos", "--chaos-min-recovery-rate=1")
    result.assert_outcomes(passed=2, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*chaos gate missed: --chaos-min-recovery-rate=1:*50.0 points*"])


# --------------------------------------------------------------------------- reproduce
REPRODUCIBLE = """
import pytest
from pytest_agentchaos import agent, AgentCrashed

@agent("flaky")
def flaky(n):
    return n

@pytest.mark.chaos_crash(target="flaky", probability=0.5)
def test_x(agentchaos):
    crashed = []
    for n in range(1, 21):
        try:
            flaky(n)
        except AgentCrashed:
            crashed.append(n)
    assert crashed == [], f"crashed at {crashed}"

def test_plain():
    pass
"""


def _crashed_at(result: pytest.RunResult) -> str:
    match = re.search(r"crashed at (\[[\d, ]+\])", result.stdout.str())
    assert match, result.stdout.str()
    return match.group(1)


def test_failed_chaos_test_prints_a_reproduce_line_that_replays_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_repro=REPRODUCIBLE)
    first = pytester.runpytest("--chaos", "--chaos-report=r.json")
    first.assert_outcomes(passed=1, failed=1)
    seed = load(pytester)["seed"]
    first.stdout.fnmatch_lines(
        [f"reproduce: pytest --chaos --chaos-seed={seed} *test_repro.py::test_x*"]
    )
    line = next(ln for ln in first.stdout.lines if ln.startswith("reproduce: "))
    argv = shlex.split(line.removeprefix("reproduce: "))
    assert argv[:3] == ["pytest", "--chaos", f"--chaos-seed={seed}"]
    assert argv[3:] == ["test_repro.py::test_x"]
    assert "test_plain" not in first.stdout.str().split("resilience report")[1]

    again = pytester.runpytest(*argv[1:])
    again.assert_outcomes(failed=1)
    assert _crashed_at(again) == _crashed_at(first)


def test_assert_recovered_failure_carries_the_reproduce_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_repro="""
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("a")
        def a():
            return 1

        @pytest.mark.chaos_crash(target="a", at_call=1)
        def test_x(agentchaos):
            with pytest.raises(AgentCrashed):
                a()
            agentchaos.assert_recovered("a")
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-seed=42", "--chaos-runs=2")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*chaos: crash at 'a' (call 1) ended unrecovered, not recovered",
            "*reproduce: pytest --chaos --chaos-seed=42 --chaos-runs=2 "
            "*test_repro.py::test_x?chaos1of2?*",
        ]
    )


# ----------------------------------------------------------------------- agentchaos CLI
def _table(lines: list[str]) -> list[str]:
    """The report table and totals line, from 'fault ... MTTR p95' to 'seed ...'."""
    start = next(i for i, ln in enumerate(lines) if ln.startswith("fault "))
    end = next(i for i, ln in enumerate(lines) if ln.startswith("seed "))
    return lines[start : end + 1]


def test_agentchaos_report_prints_the_same_table_as_the_session(
    pytester: pytest.Pytester, agentchaos_cli: Callable[..., CliRun]
) -> None:
    pytester.makepyfile(test_outcomes=FOUR_OUTCOMES)
    session = pytester.runpytest(
        "--chaos", "--chaos-seed=8", "--chaos-db=s.db", "--chaos-report=r.json"
    )
    session.assert_outcomes(passed=4)
    expected = _table(session.stdout.lines)
    assert len(expected) == 2 + 3 + 1  # header, rule, 3 rows, totals

    cli = agentchaos_cli("report", "s.db", "--out", "cli.json")
    assert cli.ret == 0, cli.err
    assert _table(cli.lines) == expected
    from_cli, from_session = load(pytester, "cli.json"), load(pytester, "r.json")
    assert from_cli["rows"] == from_session["rows"]
    assert from_cli["totals"] == from_session["totals"]
    assert from_cli["seed"] == 8

    # a second session into the same store: report shows the latest, --all both
    pytester.runpytest("--chaos", "--chaos-seed=9", "--chaos-db=s.db").assert_outcomes(passed=4)
    latest = agentchaos_cli("report", "s.db")
    assert _table(latest.lines)[-1].startswith("seed 9 · 4 faults")
    both = agentchaos_cli("report", "s.db", "--all")
    assert both.ret == 0
    assert "· 8 faults ·" in _table(both.lines)[-1]


def test_agentchaos_report_on_a_corrupt_store_is_a_clean_error(
    pytester: pytest.Pytester, agentchaos_cli: Callable[..., CliRun]
) -> None:
    bad = pytester.path / "bad.db"
    bad.write_bytes(b"not a database at all " * 100)
    cli = agentchaos_cli("report", str(bad))
    assert cli.ret == 2
    assert "agentchaos: error:" in cli.err
    assert "bad.db" in cli.err
    assert "Traceback" not in cli.err
    assert bad.read_bytes() == b"not a database at all " * 100


def test_agentchaos_report_on_a_missing_store_is_an_error(
    pytester: pytest.Pytester, agentchaos_cli: Callable[..., CliRun]
) -> None:
    cli = agentchaos_cli("report", "missing.db")
    assert cli.ret == 2
    assert "missing.db" in cli.err
    assert not (pytester.path / "missing.db").exists()


def test_recovery_rate_gate_with_no_fault_fired_is_missed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_gate="""
        import pytest

        @pytest.mark.chaos_crash(target="nobody")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest("--chaos", "--chaos-min-recovery-rate=0.9")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "no fault fired",
            "*warning: test_gate.py::test_x: chaos_crash(target='nobody') never fired*",
            "*chaos gate missed: --chaos-min-recovery-rate=0.9: no fault fired*",
        ]
    )


def test_collect_only_does_not_check_gates(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_gate=HALF_RECOVERED)
    result = pytester.runpytest("--chaos", "--co", "--chaos-min-recovery-rate=0.9")
    assert "chaos gate missed" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.OK


def test_agentchaos_report_shows_the_last_real_session(
    pytester: pytest.Pytester, agentchaos_cli: Callable[..., CliRun]
) -> None:
    pytester.makepyfile(test_outcomes=FOUR_OUTCOMES)
    session = pytester.runpytest("--chaos", "--chaos-seed=8", "--chaos-db=s.db")
    session.assert_outcomes(passed=4)
    assert pytester.runpytest("--chaos", "--chaos-db=s.db", "--markers").ret == 0
    cli = agentchaos_cli("report", "s.db")
    assert cli.ret == 0
    assert any(ln.startswith("seed 8 · 4 faults") for ln in cli.lines), cli.lines
    assert _table(cli.lines) == _table(session.stdout.lines)
