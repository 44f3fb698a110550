"""The checkout graph as the tests use it: instrumented, on an in-memory checkpointer."""

from __future__ import annotations

from typing import Any

import pytest
from checkout import GATEWAY, build
from langgraph.checkpoint.memory import InMemorySaver

from pytest_agentchaos.integrations.langgraph import instrument


@pytest.fixture
def checkout_graph() -> Any:
    GATEWAY.charges.clear()
    # The one line this suite adds to the graph: every node an agent, the charge a side effect.
    return instrument(build().compile(checkpointer=InMemorySaver()), side_effects=["charge_card"])
