"""The kill-sweep table: one row per ``crash_sweep`` point recorded in a session."""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict

from pytest_agentchaos.store.sqlite import EventStore, events_of_kind

__all__ = ["SweepRow", "build_sweep", "render_sweep"]


class SweepRow(BaseModel):
    """One kill point of a LangGraph crash sweep (``sweep`` in the JSON report)."""

    model_config = ConfigDict(frozen=True)

    nodeid: str
    durability: str
    node: str
    when: str
    verdict: str
    durable: bool
    resumed: list[str]
    final_equal: bool
    ran_twice: list[str]
    duplicated_effects: int
    error: str | None


def build_sweep(store: EventStore, session_id: str | None) -> list[SweepRow]:
    rows = []
    for row in events_of_kind(store, "sweep_point", session_id):
        point = json.loads(row["payload"])
        fields = {name: point.get(name) for name in SweepRow.model_fields if name != "nodeid"}
        rows.append(SweepRow(nodeid=row["nodeid"], **fields))
    return rows


def render_sweep(rows: list[SweepRow]) -> list[str]:
    """The terminal lines of the sweep table (none without a sweep)."""
    if not rows:
        return []
    from tabulate import tabulate

    table = [
        [
            r.durability,
            r.node,
            r.when,
            r.verdict,
            ", ".join(r.resumed) or "-",
            "yes" if r.final_equal else "no",
            ", ".join(r.ran_twice) or "-",
            r.duplicated_effects,
        ]
        for r in rows
    ]
    headers = ["durability", "node", "kill", "verdict", "resumed", "final equal", "ran twice"]
    durable = sum(r.durable for r in rows)
    return [
        "kill sweep (SIGKILL, resumed from the checkpointer in a fresh process):",
        tabulate(table, [*headers, "dup. effects"], tablefmt="simple"),
        f"{durable} of {len(rows)} kill points durable",
    ]
