"""The kill-sweep table: one row per ``crash_sweep`` point recorded in a session."""

from __future__ import annotations

from pytest_agentchaos.report.escape import visible
from pytest_agentchaos.report.model import SweepRow
from pytest_agentchaos.store.base import BaseEventStore

__all__ = ["SweepRow", "build_sweep", "render_sweep"]


def build_sweep(store: BaseEventStore, session_id: str | None) -> list[SweepRow]:
    rows = []
    for found in store.events_of_kind("sweep_point", session_id):
        point = found.event.value
        fields = {name: point.get(name) for name in SweepRow.model_fields if name != "nodeid"}
        rows.append(SweepRow(nodeid=found.nodeid, **fields))
    return rows


def render_sweep(rows: list[SweepRow]) -> list[str]:
    """The terminal lines of the sweep table (none without a sweep)."""
    if not rows:
        return []
    from tabulate import tabulate

    # Only the table's shape (no langgraph), and only for a session that swept: loading the
    # integration's package costs every chaos session ~10 ms of start-up otherwise.
    from pytest_agentchaos.integrations.langgraph.sweep import TABLE_HEADERS, table_row

    # Node names and test ids are the user's data: shown, never obeyed by the terminal.
    table = [[visible(str(cell)) for cell in table_row(r)] for r in rows]
    durable = sum(r.durable for r in rows)
    return [
        "kill sweep (SIGKILL, resumed from the checkpointer in a fresh process):",
        tabulate(table, TABLE_HEADERS, tablefmt="simple"),
        f"{durable} of {len(rows)} kill points durable",
    ]
