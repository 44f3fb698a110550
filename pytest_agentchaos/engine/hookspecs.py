"""The plugin's own hooks. Implement them with ``@pytest_agentchaos.hookimpl`` in a conftest.py,
a plugin module, or a package exposing an ``agentchaos`` entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pytest_agentchaos.engine.recovery import Failure, Recovery
    from pytest_agentchaos.engine.run import ChaosRun
    from pytest_agentchaos.model.outcomes import FaultResult

PROJECT = "agentchaos"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def agentchaos_strategies() -> list[str]:  # type: ignore[empty-body]
    """Return the names of the recovery strategies this plugin provides.

    ``--chaos-strategy`` accepts exactly the names that some plugin returns here.
    """


@hookspec(firstresult=True)
def agentchaos_recover(failure: Failure, strategy: str) -> Recovery | Any | None:
    """Recover ``failure`` with ``strategy``, or return ``None`` to decline.

    Called once per configured strategy, in configured order, until one returns a
    :class:`~pytest_agentchaos.Recovery`. An implementation handles only the strategy names it
    provides. For an async agent (``failure.is_async``) it may return an awaitable that
    resolves to a ``Recovery`` or ``None``. ``failure.call_again()`` runs the agent again
    through chaos (faults may fire again; nested failures are not recovered).
    """


@hookspec
def agentchaos_run_finished(run: ChaosRun, results: list[FaultResult]) -> None:
    """Called when a chaos run ends, with every fault firing and its outcome (for exporters)."""
