"""What the system under test tells the active chaos run from its own code.

Tests talk to their run through the ``agentchaos`` fixture; agents and coordinators have no
fixture, so these functions find the run of the calling thread (a no-op, returning 0, outside a
chaos run, like :func:`~pytest_agentchaos.agent`). A system that checks values in plain Python
(a validator, an invariant) uses :func:`detected` so its catch counts as a detection, not as a
silent corruption; :func:`record_event` adds an event of its own to the run's log.
"""

from __future__ import annotations

from typing import Any

from pytest_agentchaos.engine.controller import ChaosController
from pytest_agentchaos.engine.injection import current_run

__all__ = ["detected", "record_event"]


def detected(
    target: str | None = None, reason: str = "detected by the system", *, kind: str | None = None
) -> int:
    """The system noticed that something went wrong at ``target``: as the controller's
    :meth:`~pytest_agentchaos.ChaosController.detected`, for the active run; returns how many
    firings it marked (0 outside a chaos run)."""
    return ChaosController(current_run()).detected(target, reason, kind=kind)


def record_event(agent: str, kind: str, payload: Any = None) -> None:
    """Add an event ``kind`` about ``agent`` (with a JSON-able ``payload``) to the active run's
    log; nothing outside a chaos run."""
    run = current_run()
    if run is not None:
        run.record(agent, kind, None, payload)
