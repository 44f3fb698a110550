"""What ``instrument()`` learned about a graph: its name, nodes, routers, side effects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["INFO", "GraphInfo", "graph_info"]

#: The attribute of an instrumented graph (compiled, or a StateGraph) holding its GraphInfo.
INFO = "__agentchaos_info__"


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


def graph_info(graph: Any) -> GraphInfo | None:
    """What ``instrument()`` recorded about ``graph`` (``None`` if it was not instrumented)."""
    info = getattr(graph, INFO, None)
    return info if isinstance(info, GraphInfo) else None
