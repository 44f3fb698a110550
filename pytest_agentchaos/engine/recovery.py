"""Asking recovery strategies, in configured order, to make a failed agent call good.

The strategies themselves are plugins (see :mod:`pytest_agentchaos.engine.hookspecs`); this
module is the run's side of the conversation: what a strategy is handed, what it returns, and
what is recorded while it works.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, overload

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.steps import Invoke, Steps
from pytest_agentchaos.errors import describe_error
from pytest_agentchaos.model.faults import FaultSpec
from pytest_agentchaos.model.log import EventTuple, LogRecord
from pytest_agentchaos.model.log import events as events_of
from pytest_agentchaos.model.records import Event

__all__ = [
    "CallFailure",
    "EventLog",
    "Failure",
    "ReadOnlyStore",
    "RecoverHook",
    "Recovery",
    "RecoveringRun",
    "StrategyRunner",
]


@dataclass(frozen=True)
class Recovery:
    """What a strategy returns when it made a failed step good."""

    value: Any
    detail: str = ""


class Failure(Protocol):
    """A failed agent call, as a recovery strategy sees it: the stable strategy interface.

    Everything a strategy needs and nothing of the engine: the call (``agent``, ``args``,
    ``kwargs``, ``call_number``, ``is_async``), what went wrong (``error``, ``fault``,
    ``fault_id``), a way to run it again (``call_again()``), read-only views of the run's
    events and of the session's store, the run's resolved ``settings``, ``cancelled`` (set when
    the run ends: pass it to every wait) and ``record()`` to add an event to the log.
    """

    @property
    def agent(self) -> str:
        """The failed agent's name."""

    @property
    def args(self) -> tuple[Any, ...]:
        """The call's positional arguments."""

    @property
    def kwargs(self) -> Mapping[str, Any]:
        """The call's keyword arguments."""

    @property
    def error(self) -> BaseException:
        """The exception the call raised."""

    @property
    def fault(self) -> FaultSpec | None:
        """The fault that caused it, if it was injected; ``None`` for the agent's own errors."""

    @property
    def fault_id(self) -> str | None:
        """The firing's id (as in events and the store), if a fault caused it."""

    @property
    def call_number(self) -> int:
        """Which call of the agent failed (1-based)."""

    @property
    def is_async(self) -> bool:
        """Whether the agent is async: then ``call_again()`` returns an awaitable."""

    def call_again(self) -> Any:
        """Run the agent again with the same arguments, through chaos (faults may fire again;
        a side-effecting agent replays its recorded result). Awaitable for async agents."""

    @property
    def events(self) -> Sequence[Event]:
        """The run's events so far, oldest first (a read-only view, not a copy)."""

    @property
    def store(self) -> Any | None:
        """The session's event store, read-only (earlier tests' runs, faults and events), or
        ``None`` when the run has none (a run driven without the plugin)."""

    @property
    def settings(self) -> RunSettings:
        """The run's resolved settings (strategies, deadline, retry settings)."""

    @property
    def cancelled(self) -> threading.Event:
        """Set when the run ends: pass it to every wait (``Event.wait(seconds)``)."""

    def record(self, kind: str, payload: Any = None) -> None:
        """Add an event of ``kind`` about this failure to the run's log."""


RecoverHook = Callable[[Failure, str], "Recovery | Awaitable[Recovery | None] | None"]


class RecoveringRun(Protocol):
    """What the strategy side needs of a chaos run (so this module does not import it)."""

    settings: RunSettings

    @property
    def cancelled(self) -> threading.Event: ...

    log: list[LogRecord]
    store: Any | None

    def record(
        self, agent: str, kind: str, fault_id: str | None = None, payload: Any = None
    ) -> None: ...

    def complete(self, target: str, started_ns: int | None = None) -> None: ...


class EventLog(Sequence[Event]):
    """A live, read-only view of a run's events: each item is built on access.

    The run's log keeps a completed call as one record (:mod:`pytest_agentchaos.model.log`);
    its event stream is rebuilt only when the log has grown since the last read.
    """

    def __init__(self, log: list[LogRecord]) -> None:
        self._log = log
        self._read = -1
        self._events: list[EventTuple] = []

    def _current(self) -> list[EventTuple]:
        if len(self._log) != self._read:
            self._read = len(self._log)
            self._events = events_of(self._log)
        return self._events

    def __len__(self) -> int:
        return len(self._current())

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> list[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | list[Event]:
        current = self._current()
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(current)))]
        seq = index + len(current) if index < 0 else index
        ts_ns, agent, kind, fault_id, payload = current[seq]
        return Event(
            seq=seq, ts_ns=ts_ns, agent=agent, kind=kind, fault_id=fault_id, payload=payload
        )


class ReadOnlyStore:
    """The session's store as strategies see it: its read methods only."""

    READ_METHODS = frozenset({"sessions", "latest_session", "runs", "faults", "events"})

    def __init__(self, store: Callable[[], Any]) -> None:
        self._store = store  # opened on first use: most runs never look

    def __getattr__(self, name: str) -> Any:
        if name not in self.READ_METHODS:
            raise AttributeError(
                f"a strategy's store is read-only: {name!r} is not one of "
                f"{', '.join(sorted(self.READ_METHODS))}"
            )
        return getattr(self._store(), name)


@dataclass(frozen=True)
class CallFailure:
    """The engine's :class:`Failure`: one failed call of one run."""

    _run: RecoveringRun = field(repr=False)
    agent: str
    error: BaseException
    fault: FaultSpec | None
    fault_id: str | None
    call_number: int
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    is_async: bool
    _again: Callable[[], Any] = field(repr=False)

    def call_again(self) -> Any:
        return self._again()

    @property
    def events(self) -> Sequence[Event]:
        return EventLog(self._run.log)

    @property
    def store(self) -> Any | None:
        return self._run.store

    @property
    def settings(self) -> RunSettings:
        return self._run.settings

    @property
    def cancelled(self) -> threading.Event:
        return self._run.cancelled

    def record(self, kind: str, payload: Any = None) -> None:
        self._run.record(self.agent, kind, self.fault_id, payload)


class StrategyRunner:
    """Runs the configured strategies for one chaos run."""

    def __init__(self, run: RecoveringRun, hook: RecoverHook | None) -> None:
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
