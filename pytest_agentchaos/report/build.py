"""The resilience report: rows per fault kind x target x strategy, totals, and exports.

The report is built from the event store only, so the plugin (after a session, also under xdist)
and ``agentchaos report`` print the same thing.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.model.outcomes import (
    FaultResult,
    count_outcomes,
    detection_times,
    recovery_counts,
    recovery_rate,
    recovery_times,
)
from pytest_agentchaos.report.stats import summarize, wilson_interval
from pytest_agentchaos.report.sweep import SweepRow, build_sweep, render_sweep
from pytest_agentchaos.store.sqlite import EventStore, events_of_kind

NO_STRATEGY = "none"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReportRow(_Frozen):
    kind: str
    target: str
    strategy: str
    injected: int
    recovered: int
    unrecovered: int
    silent: int
    tolerated: int
    recovery_rate: float | None
    ci_low: float | None
    ci_high: float | None
    mttr_p50_s: float | None
    mttr_p95_s: float | None
    mttr_mean_s: float | None
    mttd_p50_s: float | None
    propagation: int


class Totals(_Frozen):
    injected: int
    recovered: int
    unrecovered: int
    silent: int
    tolerated: int
    recovery_rate: float | None
    recovery_rate_ci: list[float] | None
    mttr_s: dict[str, float | None]
    mttd_s: dict[str, float | None]
    propagation: int = 0  # later agent calls that received a corrupted value


class TestFault(_Frozen):
    kind: str
    target: str
    outcome: str
    mttr_s: float | None
    strategy: str | None


class TestEntry(_Frozen):
    nodeid: str
    seed: int
    repetition: int
    outcome: str
    faults: list[TestFault]
    reproduce: str


class Report(_Frozen):
    version: int = 1
    seed: int | None
    session_id: str | None
    totals: Totals
    rows: list[ReportRow]
    tests: list[TestEntry]
    warnings: list[str]
    sweep: list[SweepRow] = []


def _group_key(fault: FaultResult, strategy_of_run: dict[str, str]) -> tuple[str, str, str]:
    return (fault.kind, fault.target, strategy_of_run.get(fault.run_id) or NO_STRATEGY)


def _counts(
    faults: Sequence[FaultResult],
) -> tuple[dict[str, int], float | None, tuple[float, float] | None]:
    counts = count_outcomes(faults)
    rate = recovery_rate(counts["recovered"], counts["unrecovered"], counts["silent"])
    recovered, counted = recovery_counts(faults)
    interval = wilson_interval(recovered, counted) if counted else None
    return counts, rate, interval


def build_row(key: tuple[str, str, str], faults: Sequence[FaultResult]) -> ReportRow:
    counts, rate, interval = _counts(faults)
    mttr = summarize(recovery_times(faults))
    mttd = summarize(detection_times(faults))
    return ReportRow(
        kind=key[0],
        target=key[1],
        strategy=key[2],
        injected=len(faults),
        **counts,
        recovery_rate=rate,
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
        mttr_p50_s=mttr.p50,
        mttr_p95_s=mttr.p95,
        mttr_mean_s=mttr.mean,
        mttd_p50_s=mttd.p50,
        propagation=sum(f.propagation for f in faults),
    )


def build_totals(faults: Sequence[FaultResult]) -> Totals:
    counts, rate, interval = _counts(faults)
    mttr = summarize(recovery_times(faults))
    mttd = summarize(detection_times(faults))
    return Totals(
        injected=len(faults),
        **counts,
        recovery_rate=rate,
        recovery_rate_ci=list(interval) if interval else None,
        mttr_s=mttr.as_dict(),
        mttd_s=mttd.as_dict(),
        propagation=sum(f.propagation for f in faults),
    )


def reproduce_command(nodeid: str, seed: int | None, extra_args: Sequence[str] = ()) -> str:
    """The command that replays one test's exact fault schedule."""
    parts = ["pytest", "--chaos"]
    if seed is not None:
        parts.append(f"--chaos-seed={seed}")
    parts.extend(extra_args)
    # Always quoted, as DESIGN shows it: parametrized ids carry brackets and spaces.
    parts.append("'" + nodeid.replace("'", "'\"'\"'") + "'")
    return " ".join(parts)


def build_report(
    store: EventStore, session_id: str | None, seed: int | None, extra_args: Sequence[str] = ()
) -> Report:
    """Everything the store holds about a session (every session when ``None``)."""
    runs = store.runs(session_id)
    faults = store.faults(session_id)
    strategy_of_run = {run["run_id"]: run["strategies"] for run in runs}
    groups: dict[tuple[str, str, str], list[FaultResult]] = defaultdict(list)
    by_run: dict[str, list[FaultResult]] = defaultdict(list)
    for fault in faults:
        groups[_group_key(fault, strategy_of_run)].append(fault)
        by_run[fault.run_id].append(fault)
    tests = [
        TestEntry(
            nodeid=run["nodeid"],
            seed=run["seed"],
            repetition=run["repetition"],
            outcome=run["outcome"],
            faults=[
                TestFault(
                    kind=f.kind,
                    target=f.target,
                    outcome=f.outcome.value,
                    mttr_s=f.mttr_s,
                    strategy=f.strategy,
                )
                for f in by_run[run["run_id"]]
            ],
            reproduce=reproduce_command(run["nodeid"], seed, extra_args),
        )
        for run in runs
    ]
    graphs = _graphs_by_run(store, session_id)
    warnings = [
        f"{row['nodeid']}: {json.loads(row['payload'])} never fired{graphs.get(row['run_id'], '')}"
        for row in events_of_kind(store, "fault_never_fired", session_id)
    ]
    warnings += [  # once per reason: a graph without a checkpointer is named once
        f"{payload['strategy']} strategy declined: {payload['reason']}"
        for payload in (
            json.loads(row["payload"])
            for row in events_of_kind(store, "strategy_declined", session_id)
        )
    ]
    return Report(
        seed=seed,
        session_id=session_id,
        totals=build_totals(faults),
        rows=[build_row(key, groups[key]) for key in sorted(groups)],
        tests=tests,
        warnings=sorted(set(warnings)),
        sweep=build_sweep(store, session_id),
    )


def _graphs_by_run(store: EventStore, session_id: str | None) -> dict[str, str]:
    """Per run, the nodes of the LangGraph graphs it ran, for "never fired" warnings."""
    named: dict[str, list[str]] = defaultdict(list)
    for row in events_of_kind(store, "graph_instrumented", session_id):
        graph = json.loads(row["payload"])
        named[row["run_id"]].append(f"graph {graph['graph']!r} has {', '.join(graph['agents'])}")
    return {run_id: f" ({'; '.join(graphs)})" for run_id, graphs in named.items()}


# ---------------------------------------------------------------------------- rendering
HEADERS = (
    "fault",
    "target",
    "strategy",
    "injected",
    "recovered",
    "unrecovered",
    "silent",
    "tolerated",
    "rate",
    "95% CI",
    "MTTR p50",
    "MTTR p95",
)


_ALIGN = ("left", "left", "left") + ("right",) * (len(HEADERS) - 3)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def table_rows(report: Report) -> list[list[str]]:
    rows = []
    for row in report.rows:
        ci = (
            "-"
            if row.ci_low is None or row.ci_high is None
            else (f"[{row.ci_low * 100:.1f}, {row.ci_high * 100:.1f}]")
        )
        rows.append(
            [
                row.kind,
                row.target,
                row.strategy,
                str(row.injected),
                str(row.recovered),
                str(row.unrecovered),
                str(row.silent),
                str(row.tolerated),
                _percent(row.recovery_rate),
                ci,
                format_duration(row.mttr_p50_s),
                format_duration(row.mttr_p95_s),
            ]
        )
    return rows


def summary_line(report: Report) -> str:
    totals = report.totals
    seed = f"seed {report.seed}" if report.seed is not None else "seed ?"
    spread = (
        f" · corrupted values reached {totals.propagation} later calls"
        if totals.propagation
        else ""
    )
    return (
        f"{seed} · {totals.injected} faults · {_percent(totals.recovery_rate)} recovered · "
        f"{totals.silent} silent{spread} · MTTR p50 {format_duration(totals.mttr_s['p50'])}"
    )


def render_text(report: Report) -> str:
    """The terminal table, the totals line, warnings and a reproduce line per failed test."""
    from tabulate import tabulate

    if not report.rows:
        lines = ["no fault fired"]
    else:
        lines = [
            tabulate(
                table_rows(report),
                headers=HEADERS,
                tablefmt="simple",
                disable_numparse=True,
                colalign=_ALIGN,
            )
        ]
    lines.append(summary_line(report))
    lines.extend(render_sweep(report.sweep))
    lines.extend(f"warning: {warning}" for warning in report.warnings)
    lines.extend(f"reproduce: {test.reproduce}" for test in failed_tests(report))
    return "\n".join(lines)


def failed_tests(report: Report) -> list[TestEntry]:
    return [test for test in report.tests if test.outcome == "failed"]


def render_markdown(report: Report) -> str:
    from tabulate import tabulate

    body = tabulate(table_rows(report), headers=HEADERS, tablefmt="github", disable_numparse=True)
    parts = ["# Resilience report", "", summary_line(report), "", body]
    if report.warnings:
        parts += ["", "## Warnings", "", *[f"- {w}" for w in report.warnings]]
    failed = failed_tests(report)
    if failed:
        parts += ["", "## Reproduce", "", *[f"    {t.reproduce}" for t in failed]]
    return "\n".join(parts) + "\n"


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    fields = list(ReportRow.model_fields)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(row.model_dump())
    return buffer.getvalue()


def render_html(report: Report) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
        for row in table_rows(report)
    )
    repro = "".join(
        f"<li><code>{html.escape(t.reproduce)}</code></li>" for t in failed_tests(report)
    )
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in report.warnings)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Resilience report</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}</style></head><body>"
        f"<h1>Resilience report</h1><p>{html.escape(summary_line(report))}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + (f"<h2>Warnings</h2><ul>{warn}</ul>" if warn else "")
        + (f"<h2>Reproduce</h2><ul>{repro}</ul>" if repro else "")
        + "</body></html>\n"
    )


def render_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


RENDERERS = {".json": render_json, ".md": render_markdown, ".csv": render_csv, ".html": render_html}


def write_reports(report: Report, paths: Iterable[str | Path]) -> list[Path]:
    """Write the report to each path, in the format its suffix names."""
    written = []
    for raw in paths:
        path = Path(raw)
        renderer = RENDERERS[path.suffix.lower()]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(renderer(report), encoding="utf-8")
        written.append(path)
    return written
