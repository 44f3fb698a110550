"""Unit tests of pytest_agentchaos.report.build built from a store with known faults."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from report_contract import ROW_KEYS, TEST_FAULT_KEYS, TEST_KEYS, TOTALS_KEYS

from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.report.build import (
    HEADERS,
    Report,
    build_report,
    format_duration,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
    reproduce_command,
    write_reports,
)
from pytest_agentchaos.report.stats import wilson_interval
from pytest_agentchaos.store.sqlite import EventStore, RunRow

MS = 1_000_000  # ns


def _run(run_id: str, nodeid: str, strategies: str, outcome: str, seed: int) -> RunRow:
    return RunRow(
        run_id=run_id,
        session_id="s1",
        nodeid=nodeid,
        seed=seed,
        repetition=0,
        condition="chaos",
        outcome=outcome,
        started_ns=0,
        ended_ns=100 * MS,
        duration_s=0.1,
        worker="main",
        strategies=strategies,
    )


def _fault(
    run_id: str,
    n: int,
    kind: str,
    target: str,
    outcome: Outcome,
    mttr_ms: float | None = None,
    propagation: int = 0,
) -> FaultResult:
    injected = n * 1000 * MS
    detected = None if outcome in (Outcome.SILENT, Outcome.TOLERATED) else injected + MS
    recovered = None if mttr_ms is None or detected is None else detected + int(mttr_ms * MS)
    return FaultResult(
        fault_id=f"{run_id}#{n}",
        run_id=run_id,
        kind=kind,
        target=target,
        params={"target": target},
        call_number=1,
        injected_ns=injected,
        detected_ns=detected,
        recovered_ns=recovered,
        outcome=outcome,
        strategy=None,
        detected_by=None,
        propagation=propagation,
    )


R, U, S, T = Outcome.RECOVERED, Outcome.UNRECOVERED, Outcome.SILENT, Outcome.TOLERATED
CRASH_NODE = "tests/test_a.py::test_crash"
HALL_NODE = "tests/test_b.py::test_hall[x y]"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    with EventStore.open(tmp_path / "e.db") as store:
        store.start_session("s1", 1234, ["--chaos"], "0.1.0", 1)
        store.write_run(
            _run("r1", CRASH_NODE, "retry", "passed", 99),
            [],
            [
                _fault("r1", 1, "crash", "pricing", R, 1.0),
                _fault("r1", 2, "crash", "pricing", R, 2.0),
                _fault("r1", 3, "crash", "pricing", R, 3.0),
                _fault("r1", 4, "crash", "pricing", U),
            ],
        )
        store.write_run(
            _run("r2", HALL_NODE, "none", "failed", 77),
            [(1, "pricing", "fault_never_fired", None, "chaos_crash(target='pricing')")],
            [
                _fault("r2", 1, "hallucination", "marketing", S, propagation=2),
                _fault("r2", 2, "hallucination", "marketing", R, 10.0, propagation=1),
                _fault("r2", 3, "delay", "marketing", T),
                _fault("r2", 4, "delay", "marketing", T),
            ],
        )
        # another session: must not leak into the report of s1
        other = _run("x1", "tests/t.py::other", "none", "passed", 1)
        store.write_run(
            dataclasses.replace(other, session_id="s2"),
            [],
            [_fault("x1", 1, "crash", "pricing", U)],
        )
        yield store


@pytest.fixture
def report(store: EventStore) -> Report:
    return build_report(store, "s1", 1234)


def test_totals(report: Report) -> None:
    totals = report.totals
    assert (totals.injected, totals.recovered, totals.unrecovered) == (8, 4, 1)
    assert (totals.silent, totals.tolerated) == (1, 2)
    assert totals.recovery_rate == pytest.approx(4 / 6)
    assert totals.recovery_rate_ci == pytest.approx(list(wilson_interval(4, 6)))
    assert totals.mttr_s["mean"] == pytest.approx(0.004)
    assert totals.mttr_s["p50"] == pytest.approx(0.0025)
    assert totals.mttr_s["p95"] == pytest.approx(0.00895)
    # every detected firing was detected 1 ms after injection
    assert totals.mttd_s == {
        "mean": pytest.approx(0.001),
        "p50": pytest.approx(0.001),
        "p95": pytest.approx(0.001),
    }


def test_rows(report: Report) -> None:
    keys = [(r.kind, r.target, r.strategy) for r in report.rows]
    assert keys == [
        ("crash", "pricing", "retry"),
        ("delay", "marketing", "none"),
        ("hallucination", "marketing", "none"),
    ]
    crash, delay, hallucination = report.rows
    assert (crash.injected, crash.recovered, crash.unrecovered, crash.silent) == (4, 3, 1, 0)
    assert crash.recovery_rate == 0.75
    assert (crash.ci_low, crash.ci_high) == pytest.approx(wilson_interval(3, 4))
    assert crash.mttr_p50_s == pytest.approx(0.002)
    assert crash.mttr_p95_s == pytest.approx(0.0029)
    assert crash.mttr_mean_s == pytest.approx(0.002)
    assert (delay.injected, delay.tolerated) == (2, 2)
    assert delay.recovery_rate is None
    assert delay.ci_low is None
    assert delay.ci_high is None
    assert delay.mttr_p50_s is None
    assert (hallucination.recovered, hallucination.silent) == (1, 1)
    assert hallucination.recovery_rate == 0.5
    assert hallucination.mttr_p50_s == pytest.approx(0.010)
    assert hallucination.propagation == 3


def test_tests_and_reproduce(report: Report) -> None:
    assert [t.nodeid for t in report.tests] == [CRASH_NODE, HALL_NODE]
    crash, hall = report.tests
    assert (crash.seed, crash.outcome) == (99, "passed")
    assert [(f.kind, f.outcome) for f in crash.faults] == [("crash", "recovered")] * 3 + [
        ("crash", "unrecovered")
    ]
    assert crash.faults[0].mttr_s == pytest.approx(0.001)
    assert crash.faults[3].mttr_s is None
    assert hall.reproduce == "pytest --chaos --chaos-seed=1234 'tests/test_b.py::test_hall[x y]'"
    assert crash.reproduce == f"pytest --chaos --chaos-seed=1234 '{CRASH_NODE}'"
    assert report.warnings == [f"{HALL_NODE}: chaos_crash(target='pricing') never fired"]


def test_reproduce_command_with_extra_args_and_no_seed() -> None:
    assert reproduce_command("t.py::t", None) == "pytest --chaos 't.py::t'"
    # a quote inside the id survives the shell
    assert reproduce_command("t.py::t[it's]", 1).endswith("""'t.py::t[it'"'"'s]'""")
    assert (
        reproduce_command("t.py::t", 5, ["--chaos-runs=3"])
        == "pytest --chaos --chaos-seed=5 --chaos-runs=3 't.py::t'"
    )


def test_all_sessions_report(store: EventStore) -> None:
    everything = build_report(store, None, None)
    assert everything.totals.injected == 9
    assert everything.totals.unrecovered == 2


def test_json_has_design_keys(report: Report) -> None:
    data: dict[str, Any] = json.loads(render_json(report))
    assert {"version", "seed", "totals", "rows", "tests"} <= set(data)
    assert data["version"] == 1
    assert data["seed"] == 1234
    assert set(data["totals"]) >= TOTALS_KEYS
    assert set(data["totals"]["mttr_s"]) == {"mean", "p50", "p95"}
    assert set(data["totals"]["mttd_s"]) == {"mean", "p50", "p95"}
    assert len(data["totals"]["recovery_rate_ci"]) == 2
    assert data["rows"]
    assert all(set(row) >= ROW_KEYS for row in data["rows"])
    assert data["tests"]
    assert all(set(test) >= TEST_KEYS for test in data["tests"])
    assert all(set(fault) >= TEST_FAULT_KEYS for test in data["tests"] for fault in test["faults"])
    assert isinstance(data["totals"]["injected"], int)
    assert isinstance(data["rows"][0]["recovery_rate"], float)
    assert data["rows"][1]["recovery_rate"] is None


def test_render_text(report: Report) -> None:
    text = render_text(report)
    lines = text.splitlines()
    header = lines[0].split()
    assert header[:8] == list(HEADERS[:8])
    assert "95% CI" in lines[0]
    assert "MTTR p50" in lines[0]
    assert "MTTR p95" in lines[0]
    crash_line = next(line for line in lines if line.startswith("crash"))
    assert crash_line.split()[:9] == ["crash", "pricing", "retry", "4", "3", "1", "0", "0", "75.0%"]
    assert "2.0 ms" in crash_line
    assert "2.9 ms" in crash_line
    low, high = wilson_interval(3, 4)
    assert f"[{low * 100:.1f}, {high * 100:.1f}]" in crash_line
    assert (
        "seed 1234 · 8 faults · 66.7% recovered · 1 silent · "
        "corrupted values reached 3 later calls · MTTR p50 2.5 ms"
    ) in lines
    assert f"warning: {HALL_NODE}: chaos_crash(target='pricing') never fired" in lines
    assert (
        lines[-1] == "reproduce: pytest --chaos --chaos-seed=1234 'tests/test_b.py::test_hall[x y]'"
    )


def test_render_text_empty_store(tmp_path: Path) -> None:
    with EventStore.open(tmp_path / "e.db") as store:
        text = render_text(build_report(store, None, 7))
    assert text.splitlines() == [
        "no fault fired",
        "seed 7 · 0 faults · - recovered · 0 silent · MTTR p50 -",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.0000042, "4 µs"), (0.0021, "2.1 ms"), (0.5, "500.0 ms"), (2.0, "2.00 s")],
)
def test_format_duration(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_markdown_csv_html(report: Report) -> None:
    markdown = render_markdown(report)
    assert markdown.startswith("# Resilience report\n")
    assert "| crash " in markdown
    assert "## Reproduce" in markdown
    assert "## Warnings" in markdown
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert [r["kind"] for r in rows] == ["crash", "delay", "hallucination"]
    assert set(rows[0]) >= ROW_KEYS
    assert rows[0]["injected"] == "4"
    assert float(rows[0]["recovery_rate"]) == 0.75
    html_text = render_html(report)
    assert html_text.startswith("<!doctype html>")
    assert html_text.count("<tr>") == 4  # header + 3 rows
    assert "&#x27;tests/test_b.py::test_hall[x y]&#x27;" in html_text


def test_write_reports_all_formats(report: Report, tmp_path: Path) -> None:
    paths = [tmp_path / "out" / f"chaos{suffix}" for suffix in (".json", ".md", ".csv", ".HTML")]
    written = write_reports(report, paths)
    assert written == paths
    assert json.loads(paths[0].read_text(encoding="utf-8"))["totals"]["injected"] == 8
    assert paths[1].read_text(encoding="utf-8") == render_markdown(report)
    assert paths[2].read_text(encoding="utf-8") == render_csv(report)
    assert paths[3].read_text(encoding="utf-8") == render_html(report)


def test_never_fired_warning_is_decoded(tmp_path: Path) -> None:
    description = "chaos_hallucination(target='prüfung', value='say \"hi\"')"
    with EventStore.open(tmp_path / "e.db") as store:
        store.write_run(
            _run("r1", "t.py::t", "none", "passed", 1),
            [(1, "prüfung", "fault_never_fired", None, description)],
            [],
        )
        report = build_report(store, None, 1)
    assert report.warnings == [f"t.py::t: {description} never fired"]
