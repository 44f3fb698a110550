"""The resilience report rendered: terminal table, Markdown, CSV, JSON and HTML, and files.

Every string that came from an agent or a test (names, test ids, messages) passes through the
escaping of its format (:mod:`pytest_agentchaos.report.escape`): it is shown, never obeyed. JSON
keeps strings exact (``json.dumps`` escapes control characters itself).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

from pytest_agentchaos.config.settings import parse_report_path
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.report.escape import csv_text, html_text, markdown_text, visible
from pytest_agentchaos.report.model import Report, ReportRow, TestEntry
from pytest_agentchaos.report.sweep import render_sweep

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


_TEXT_COLUMNS = 3  # fault, target, strategy: names from outside; the rest are our numbers
_ALIGN = ("left",) * _TEXT_COLUMNS + ("right",) * (len(HEADERS) - _TEXT_COLUMNS)


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
    """The table's cells as plain, unescaped text; each renderer escapes them its own way."""
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


def _escaped_rows(report: Report, escape: Callable[[str], str]) -> list[list[str]]:
    return [
        [escape(cell) for cell in row[:_TEXT_COLUMNS]] + row[_TEXT_COLUMNS:]
        for row in table_rows(report)
    ]


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


def failed_tests(report: Report) -> list[TestEntry]:
    return [test for test in report.tests if test.outcome == "failed"]


def render_text(report: Report) -> str:
    """The terminal table, the totals line, warnings and a reproduce line per failed test."""
    if not report.rows:
        lines = ["no fault fired"]
    else:
        from tabulate import tabulate  # only for a table: ~6 ms of a session with no firing

        lines = [
            tabulate(
                _escaped_rows(report, visible),
                headers=HEADERS,
                tablefmt="simple",
                disable_numparse=True,
                colalign=_ALIGN,
            )
        ]
    lines.append(summary_line(report))
    lines.extend(render_sweep(report.sweep))
    lines.extend(f"warning: {visible(warning)}" for warning in report.warnings)
    lines.extend(f"reproduce: {visible(test.reproduce)}" for test in failed_tests(report))
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    from tabulate import tabulate

    body = tabulate(
        _escaped_rows(report, markdown_text),
        headers=HEADERS,
        tablefmt="github",
        disable_numparse=True,
    )
    parts = ["# Resilience report", "", summary_line(report), "", body]
    if report.warnings:
        parts += ["", "## Warnings", "", *[f"- {markdown_text(w)}" for w in report.warnings]]
    failed = failed_tests(report)
    if failed:
        # An indented code block shows its text literally; only a line break could leave it.
        parts += ["", "## Reproduce", "", *[f"    {visible(t.reproduce)}" for t in failed]]
    return "\n".join(parts) + "\n"


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    fields = list(ReportRow.model_fields)
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow(
            {
                key: csv_text(value) if isinstance(value, str) else value
                for key, value in row.model_dump().items()
            }
        )
    return buffer.getvalue()


def render_html(report: Report) -> str:
    head = "".join(f"<th>{html_text(h)}</th>" for h in HEADERS)
    body = "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in _escaped_rows(report, html_text)
    )
    repro = "".join(f"<li><code>{html_text(t.reproduce)}</code></li>" for t in failed_tests(report))
    warn = "".join(f"<li>{html_text(w)}</li>" for w in report.warnings)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Resilience report</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}</style></head><body>"
        f"<h1>Resilience report</h1><p>{html_text(summary_line(report))}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        + (f"<h2>Warnings</h2><ul>{warn}</ul>" if warn else "")
        + (f"<h2>Reproduce</h2><ul>{repro}</ul>" if repro else "")
        + "</body></html>\n"
    )


def render_json(report: Report) -> str:
    return json.dumps(report.model_dump(mode="json"), indent=2) + "\n"


RENDERERS = {".json": render_json, ".md": render_markdown, ".csv": render_csv, ".html": render_html}


def check_report_path(value: str | os.PathLike[str], source: str = "--chaos-report") -> Path:
    """``value`` as a report path that can be written, or a :class:`ChaosConfigError` naming
    ``source``, the path and why not (unknown suffix, a directory, under a regular file, a
    folder that is not writable). Checked before any work, so a bad path costs nothing."""
    path = parse_report_path(os.fspath(value), source)
    shown = repr(visible(os.fspath(value)))
    if path.is_dir():
        raise ChaosConfigError(f"{source}={shown}: it is a directory; name a file in it")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ChaosConfigError(f"{source}={shown}: {visible(str(folder))} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ChaosConfigError(f"{source}={shown}: the folder {visible(str(folder))} is read-only")
    return path


def write_reports(
    report: Report, paths: Iterable[str | os.PathLike[str]], source: str = "--chaos-report"
) -> list[Path]:
    """Write the report to each path, in the format its suffix names.

    Every path is checked before the first is written; a path that still cannot be written (the
    disk filled, a race) is a :class:`ChaosConfigError` naming ``source`` and the path.
    """
    checked = [check_report_path(raw, source) for raw in paths]
    for path in checked:
        renderer = RENDERERS[path.suffix.lower()]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(renderer(report), encoding="utf-8")
        except OSError as error:
            raise ChaosConfigError(
                f"{source}={visible(str(path))!r}: cannot write the report: {error.strerror}"
            ) from None
    return checked
