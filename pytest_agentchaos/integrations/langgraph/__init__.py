"""LangGraph: chaos in any graph's nodes, resume from its checkpointer, a kill -9 sweep.

``instrument(graph)`` makes every node an agent named after it (a subgraph's nodes
``parent/child``) and every router the agent ``route:<source>``; the ``checkpoint`` strategy
resumes a failed thread from the checkpointer; :func:`recover_and_resume` does that for user
code; :func:`assert_parity` compares a thread with the fault-free run; :func:`crash_sweep`
SIGKILLs a graph at every node, before and after its effect, and resumes it in a fresh
process. Importing this package loads no langgraph: each function imports it on use.
"""

from __future__ import annotations

from pytest_agentchaos.integrations.langgraph.instrument import instrument, is_instrumented
from pytest_agentchaos.integrations.langgraph.parity import assert_parity, first_difference
from pytest_agentchaos.integrations.langgraph.resume import (
    Resumed,
    arecover_and_resume,
    recover_and_resume,
)
from pytest_agentchaos.integrations.langgraph.sweep import (
    SweepPoint,
    SweepResult,
    assert_durable,
    crash_sweep,
)

__all__ = [
    "Resumed",
    "SweepPoint",
    "SweepResult",
    "assert_durable",
    "crash_sweep",
    "arecover_and_resume",
    "assert_parity",
    "first_difference",
    "instrument",
    "is_instrumented",
    "recover_and_resume",
]
