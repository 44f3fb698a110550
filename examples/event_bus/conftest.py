"""The agents of each execution mode, built on this test's ``agentchaos_bus``.

The bus fixture delivers through the test's message faults (when ``--chaos`` is on) and closes at
the end of the test; ``chaos_bus(...)`` markers choose its delivery guarantee.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from autonomous import Triage
from collaborative import OrderFlow, build_order_flow
from continuous import CheckpointStore, Meter, RunningTotal, Stream
from scheduled import Clock, Reporter

from pytest_agentchaos import ChaosController, MessageBus

LOSSES = ("message_drop", "partition")


def loss_detector(agentchaos: ChaosController, agent: str | None = None) -> Callable[[str], int]:
    """A hook for an agent's own check that a message went missing (a gap, a stalled order).

    It marks the lost messages nobody had noticed as detected, so a loss the system catches and
    makes good ends ``recovered`` in the report, and one it catches but cannot make good ends
    ``unrecovered``, instead of both reading ``tolerated``. With ``agent``, only losses on that
    agent's links count. Without ``--chaos`` it does nothing.

    An agent raising on the *next* message surfaces only the faults that acted on that message,
    so the loss of an earlier one is said with ``agentchaos.detected(target, kind=...)``.
    """

    def detected(reason: str) -> int:
        return sum(agentchaos.detected(agent, reason, kind=kind) for kind in LOSSES)

    return detected


# -------------------------------------------------------------------------- collaborative
@pytest.fixture
def order_flow(agentchaos: ChaosController, agentchaos_bus: MessageBus) -> OrderFlow:
    """shop -> inventory -> billing -> notifier -> shop, each a subscriber of the one before."""
    return build_order_flow(
        agentchaos_bus, stock={"TR-2": 10, "HX-9": 10}, on_stalled=loss_detector(agentchaos)
    )


# ----------------------------------------------------------------------------- autonomous
@pytest.fixture
def triage(agentchaos_bus: MessageBus) -> Triage:
    return Triage(agentchaos_bus, retries=2)


# ----------------------------------------------------------------------------- continuous
@pytest.fixture
def stream() -> Stream:
    return Stream()


@pytest.fixture
def meter(agentchaos_bus: MessageBus, stream: Stream) -> Meter:
    return Meter(agentchaos_bus, stream)


@pytest.fixture
def running_total(agentchaos_bus: MessageBus, stream: Stream) -> RunningTotal:
    return RunningTotal(agentchaos_bus, stream, CheckpointStore(), every=4, max_restarts=3)


# ------------------------------------------------------------------------------ scheduled
@pytest.fixture
def clock(agentchaos_bus: MessageBus) -> Clock:
    return Clock(agentchaos_bus)


@pytest.fixture
def reporter(agentchaos: ChaosController, agentchaos_bus: MessageBus) -> Reporter:
    return Reporter(agentchaos_bus, on_missed=loss_detector(agentchaos, "reporter"))
