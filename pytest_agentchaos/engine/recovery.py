"""Asking recovery strategies, in configured order, to make a failed agent call good.

The strategies themselves are plugins (see :mod:`pytest_agentchaos.engine.hookspecs`); this
module is the run's side of the conversation: what a strategy is handed, what it returns, and
what is recorded while it works.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_agentchaos.engine.steps import Invoke, Steps
from pytest_agentchaos.errors import describe_error
from pytest_agentchaos.model.records import Firing

if TYPE_CHECKING:
    from pytest_agentchaos.engine.run import ChaosRun


@dataclass(frozen=True)
class Recovery:
    """What a strategy returns when it made a failed step good."""

    value: Any
    detail: str = ""


@dataclass(frozen=True)
class Failure:
    """A failed agent call, as handed to recovery strategies."""

    run: ChaosRun
    agent: str
    error: BaseException
    firing: Firing | None
    call_number: int
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    is_async: bool
    call_again: Callable[[], Any] = field(repr=False)

    @property
    def fault_id(self) -> str | None:
        return self.firing.fault_id if self.firing else None


RecoverHook = Callable[[Failure, str], "Recovery | Awaitable[Recovery | None] | None"]


class StrategyRunner:
    """Runs the configured strategies for one chaos run."""

    def __init__(self, run: ChaosRun, hook: RecoverHook | None) -> None:
        self.run = run
        self.hook = hook
        # Per thread and per asyncio task: a recovery in one must not silence failures of
        # agents running concurrently in another.
        self._active: ContextVar[str | None] = ContextVar("agentchaos_strategy", default=None)

    def current(self) -> str | None:
        """The strategy at work in this thread or task, if any."""
        return self._active.get()

    def apply(self) -> bool:
        """Whether a failure here should be handed to strategies.

        Not inside a recovery: a retry that fails again is the strategy's business.
        """
        return (
            bool(self.run.settings.strategies)
            and self.hook is not None
            and (self._active.get() is None)
        )

    def recover_steps(self, failure: Failure) -> Steps[Recovery | None]:
        """Ask each configured strategy in turn; the first :class:`Recovery` wins.

        Written once for both drivers: under :func:`run_async` an awaitable answer (an async
        strategy) is awaited at the ``Invoke``.
        """
        for strategy in self.run.settings.strategies:
            token = self._active.set(strategy)
            try:
                outcome = yield Invoke(self._ask, (failure, strategy))
            except Exception as error:
                self._broken(failure, strategy, describe_error(error))
                continue
            finally:
                self._active.reset(token)
            if not self._declined(failure, strategy, outcome):
                return self._recovered(failure, strategy, outcome)
        self.run.record(failure.agent, "recovery_failed", failure.fault_id)
        return None

    def _ask(self, failure: Failure, strategy: str) -> Any:
        self.run.record(failure.agent, "recovery_attempt", failure.fault_id, {"strategy": strategy})
        assert self.hook is not None
        return self.hook(failure, strategy)

    def _declined(self, failure: Failure, strategy: str, outcome: Any) -> bool:
        """Whether the strategy gave no usable answer (and record why, if it was broken)."""
        if outcome is None:
            return True
        if isinstance(outcome, Recovery):
            return False
        self._broken(failure, strategy, f"returned {outcome!r}, not a Recovery")
        return True

    def _broken(self, failure: Failure, strategy: str, problem: str) -> None:
        # A broken strategy must not hide the agent's own failure: note it, try the next one.
        self.run.record(
            failure.agent,
            "recovery_error",
            failure.fault_id,
            {"strategy": strategy, "error": problem},
        )

    def _recovered(self, failure: Failure, strategy: str, outcome: Recovery) -> Recovery:
        token = self._active.set(strategy)
        try:
            self.run.complete(failure.agent)
        finally:
            self._active.reset(token)
        self.run.record(
            failure.agent,
            "recovery_succeeded",
            failure.fault_id,
            {"strategy": strategy, "detail": outcome.detail},
        )
        return outcome
