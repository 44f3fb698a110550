"""What ``instrument()`` learned about each graph: its name, nodes, routers, side effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["GraphInfo", "graph_nodes", "register"]


@dataclass
class GraphInfo:
    """One instrumented graph, by the agent names it gave its nodes and routers."""

    name: str
    nodes: list[str] = field(default_factory=list)
    routers: list[str] = field(default_factory=list)
    side_effects: set[str] = field(default_factory=set)
    announced_to: Any = field(default=None, repr=False)  # the last run told about this graph

    def agents(self) -> list[str]:
        return [*self.nodes, *self.routers]


_GRAPHS: dict[int, GraphInfo] = {}


def register(info: GraphInfo) -> None:
    _GRAPHS[id(info)] = info


def graph_nodes() -> dict[str, list[str]]:
    """Every instrumented graph's name and agent names (for "never fired" warnings)."""
    return {info.name: info.agents() for info in _GRAPHS.values()}
