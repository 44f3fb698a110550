"""ecommerce_swarm: a vendor-management multi-agent system on LangGraph, the plugin's target.

A lead agent hands each step (listing, pricing, inventory, marketing, feedback, analytics) to an
agent over pytest-agentchaos's message bus with protocol messages; each agent is a LangGraph
graph with a SQLite checkpointer and validates what it gets. It uses only the plugin's public
API. See README.md in this package.
"""

from __future__ import annotations

from ecommerce_swarm.invariants import InvariantViolation
from ecommerce_swarm.scenario import Scenario, ScenarioError, load_scenario, scenario_names
from ecommerce_swarm.swarm import Swarm, SwarmResult
from ecommerce_swarm.workflow import HandoffFailed

__all__ = [
    "HandoffFailed",
    "InvariantViolation",
    "Scenario",
    "ScenarioError",
    "Swarm",
    "SwarmResult",
    "load_scenario",
    "scenario_names",
]
