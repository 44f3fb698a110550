"""The resilience report built from the store: rows per fault kind x target x strategy, totals,
one entry per test run with its reproduce command.

The report is built from the event store only, so the plugin (after a session, also under xdist)
and ``agentchaos report`` print the same thing. Rendering lives in
:mod:`pytest_agentchaos.report.render`; its names are re-exported here for the callers that
import them from this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pytest_agentchaos.model.outcomes import (
    FaultResult,
    count_outcomes,
    detection_times,
    recovery_counts,
    recovery_rate,
    recovery_times,
)
from pytest_agentchaos.report.model import Report, ReportRow, TestEntry, TestFault, Totals
from pytest_agentchaos.report.render import (
    HEADERS,
    RENDERERS,
    check_report_path,
    failed_tests,
    format_duration,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    render_text,
    summary_line,
    table_rows,
    write_reports,
)
from pytest_agentchaos.report.stats import summarize, wilson_interval
from pytest_agentchaos.report.sweep import build_sweep
from pytest_agentchaos.store.base import BaseEventStore

__all__ = [
    "HEADERS",
    "NO_STRATEGY",
    "RENDERERS",
    "Report",
    "ReportRow",
    "TestEntry",
    "TestFault",
    "Totals",
    "build_report",
    "build_row",
    "build_totals",
    "check_report_path",
    "failed_tests",
    "format_duration",
    "render_csv",
    "render_html",
    "render_json",
    "render_markdown",
    "render_text",
    "reproduce_command",
    "summary_line",
    "table_rows",
    "write_reports",
]

NO_STRATEGY = "none"


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
    store: BaseEventStore, session_id: str | None, seed: int | None, extra_args: Sequence[str] = ()
) -> Report:
    """Everything the store holds about a session (every session when ``None``)."""
    runs = store.runs(session_id)
    faults = store.faults(session_id)
    strategy_of_run = {run.run_id: run.strategies for run in runs}
    groups: dict[tuple[str, str, str], list[FaultResult]] = defaultdict(list)
    by_run: dict[str, list[FaultResult]] = defaultdict(list)
    for fault in faults:
        groups[_group_key(fault, strategy_of_run)].append(fault)
        by_run[fault.run_id].append(fault)
    tests = [
        TestEntry(
            nodeid=run.nodeid,
            seed=run.seed,
            repetition=run.repetition,
            outcome=run.outcome,
            faults=[
                TestFault(
                    kind=f.kind,
                    target=f.target,
                    outcome=f.outcome.value,
                    mttr_s=f.mttr_s,
                    strategy=f.strategy,
                )
                for f in by_run[run.run_id]
            ],
            reproduce=reproduce_command(run.nodeid, seed, extra_args),
        )
        for run in runs
    ]
    graphs = _graphs_by_run(store, session_id)
    warnings = [
        f"{found.nodeid}: {found.event.value} never fired{graphs.get(found.event.run_id, '')}"
        for found in store.events_of_kind("fault_never_fired", session_id)
    ]
    warnings += [  # once per reason: a graph without a checkpointer is named once
        f"{payload['strategy']} strategy declined: {payload['reason']}"
        for payload in (
            found.event.value for found in store.events_of_kind("strategy_declined", session_id)
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


def _graphs_by_run(store: BaseEventStore, session_id: str | None) -> dict[str, str]:
    """Per run, the nodes of the LangGraph graphs it ran, for "never fired" warnings."""
    named: dict[str, list[str]] = defaultdict(list)
    for found in store.events_of_kind("graph_instrumented", session_id):
        graph = found.event.value
        named[found.event.run_id].append(
            f"graph {graph['graph']!r} has {', '.join(graph['agents'])}"
        )
    return {run_id: f" ({'; '.join(graphs)})" for run_id, graphs in named.items()}
