"""The one place where the swarm meets the chaos plugin; the agents never do.

``instrument_workflow`` hands the lead's graph to the LangGraph integration, which makes each
node an agent named after it (inventory, which reserves stock, a side-effecting one: at most
once per thread, node and state) without editing the graph. ``instrument_models`` makes each
agent's offline model an agent named ``<agent>.llm``, the target of LLM faults (an endpoint
model's client is instrumented at its HTTP transport instead), and reports each answer an agent
refuses to the chaos run as a detection. Outside a chaos run all of it is a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ecommerce_swarm.llm import OfflineModel
from pytest_agentchaos import detected, wrap
from pytest_agentchaos.integrations.langgraph import instrument

#: Nodes that write somewhere outside their return value: run at most once per key.
SIDE_EFFECTS = ("inventory",)


def instrument_workflow(graph: Any) -> Any:
    """Instrument the lead's ``StateGraph`` (before it is compiled)."""
    present = [name for name in SIDE_EFFECTS if name in graph.nodes]
    return instrument(graph, side_effects=present)


def instrument_models(agents: Mapping[str, Any]) -> None:
    for name, member in agents.items():
        if isinstance(member.model, OfflineModel):
            wrap(member, f"{name}.llm", attribute="ask")
        member.rejection_observers.append(_report_rejection)


def _report_rejection(agent_name: str, reason: str) -> None:
    """An agent refused its model's answer: in a chaos run, that detects what the model got
    wrong (the agent then asks again, which is the recovery)."""
    detected(f"{agent_name}.llm", f"{agent_name} refused its model's answer: {reason}")
