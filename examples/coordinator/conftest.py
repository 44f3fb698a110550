"""Fixtures: the in-memory system, the four agents and the coordinator, on this test's bus.

``agentchaos_bus`` is the plugin's message bus: under ``--chaos`` every delivery passes through
the test's message faults; without it the bus only delivers. A ``chaos_bus`` marker on a test
sets how it delivers (``delivery="at_least_once"``, ``ack_timeout``, ...).
"""

from __future__ import annotations

import pytest
from coordinator import Coordinator
from deploy_agents import System, Team, start_team

from pytest_agentchaos import MessageBus


@pytest.fixture
def system() -> System:
    return System.initial()


@pytest.fixture
def team(agentchaos_bus: MessageBus, system: System) -> Team:
    return start_team(agentchaos_bus, system)


@pytest.fixture
def coordinator(agentchaos_bus: MessageBus, team: Team) -> Coordinator:
    return Coordinator(agentchaos_bus, timeout=0.1, attempts=3, backoff=0.005)
