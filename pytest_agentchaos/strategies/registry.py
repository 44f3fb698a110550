"""The plugin manager behind the strategy hooks: built-ins, conftest plugins, entry points."""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from pytest_agentchaos.engine import hookspecs
from pytest_agentchaos.engine.recovery import Failure, Recovery
from pytest_agentchaos.errors import ChaosConfigError

#: Strategies that DESIGN.md names and later releases bring; named in errors so users know.
PLANNED_STRATEGIES = (
    "replay",
    "peer",
    "llm",
    "automata",
    "semantic",
    "compensate",
    "fallback",
    "escalate",
    "hybrid",
)


def has_hookimpls(plugin: object) -> bool:
    """Whether ``plugin`` implements any agentchaos hook with ``@hookimpl``."""
    for name in ("agentchaos_strategies", "agentchaos_recover", "agentchaos_run_finished"):
        member = inspect.getattr_static(plugin, name, None)
        if member is not None and hasattr(member, f"{hookspecs.PROJECT}_impl"):
            return True
    return False


class StrategyRegistry:
    """Registered strategy plugins, asked in configured order to recover a failure."""

    def __init__(self, *, entry_points: bool = True) -> None:
        from pytest_agentchaos.strategies import checkpoint, retry

        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(retry, name="agentchaos.strategies.retry")
        self.pm.register(checkpoint, name="agentchaos.strategies.checkpoint")
        if entry_points:
            self.pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        # What the plugins provide, asked again only after a plugin comes or goes: every
        # chaos test checks its strategies against it.
        self._names: list[str] | None = None

    def register(self, plugin: object, name: str | None = None) -> None:
        if not self.pm.is_registered(plugin):
            self.pm.register(plugin, name=name)
            self._names = None

    def unregister(self, plugin: object) -> None:
        if self.pm.is_registered(plugin):
            self.pm.unregister(plugin)
            self._names = None

    def names(self) -> list[str]:
        if self._names is None:
            provided: list[str] = []
            for names in self.pm.hook.agentchaos_strategies():
                provided.extend(name for name in names if name not in provided)
            self._names = provided
        return list(self._names)

    def validate(self, requested: tuple[str, ...]) -> tuple[str, ...]:
        """Check every requested strategy is provided by some plugin."""
        if not requested:
            return requested
        available = self.names()
        for name in requested:
            if name not in available:
                planned = (
                    f" ({name!r} is planned but not built yet)"
                    if name in PLANNED_STRATEGIES
                    else ""
                )
                raise ChaosConfigError(
                    f"unknown recovery strategy {name!r}{planned}; available: "
                    f"{', '.join(available)}"
                )
        return requested

    def recover(self, failure: Failure, strategy: str) -> Recovery | Any | None:
        return self.pm.hook.agentchaos_recover(failure=failure, strategy=strategy)

    def run_finished(self, run: Any, results: list[Any]) -> None:
        hook = self.pm.hook.agentchaos_run_finished
        if hook.get_hookimpls():  # most sessions have none: skip pluggy's call
            hook(run=run, results=results)
