"""The chaos run: one test run's fault schedule, event log and recovery bookkeeping.

:class:`ChaosRun` is the engine behind the ``agentchaos`` fixture. It never imports pytest, so
the CLI and the experiment runner drive it the same way the plugin does.
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.calls import CallOptions, apply_after, effect_key, prepare
from pytest_agentchaos.engine.recovery import (
    CallFailure,
    Failure,
    RecoverHook,
    Recovery,
    StrategyRunner,
)
from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_async, run_sync
from pytest_agentchaos.errors import InjectedFault, describe_error
from pytest_agentchaos.model.faults import AGENT_CALL_KINDS, FaultSpec
from pytest_agentchaos.model.outcomes import FaultResult
from pytest_agentchaos.model.records import CallCounts, EventTuple, Firing
from pytest_agentchaos.model.schedule import rng_for, should_fire

_now = time.monotonic_ns

__all__ = ["ChaosRun", "Failure", "RecoverHook", "Recovery", "RunSettings"]


class ChaosRun:
    """One test run (or repetition) under chaos."""

    def __init__(
        self,
        *,
        run_id: str,
        nodeid: str,
        seed: int,
        repetition: int = 0,
        settings: RunSettings | None = None,
        faults: Iterable[FaultSpec] = (),
        recover: RecoverHook | None = None,
        store: Any | None = None,
    ) -> None:
        self.run_id = run_id
        self.nodeid = nodeid
        self.seed = seed
        self.repetition = repetition
        self.settings = settings or RunSettings()
        #: The session's store as strategies may read it (``ReadOnlyStore``), if any.
        self.store = store
        self.events: list[EventTuple] = []
        self.firings: list[Firing] = []
        self.calls = CallCounts()
        self.strategies = StrategyRunner(self, recover)
        self._specs: list[FaultSpec] = []
        self._fired: list[int] = []
        self._agent_faults: dict[str, tuple[int, ...]] = {}
        self._by_id: dict[str, Firing] = {}
        self._pending: dict[str, list[Firing]] = {}  # surfaced, waiting for a good call
        self._hidden: list[Firing] = []  # corruptions nothing has detected yet
        self._corruptions: list[Firing] = []
        self._effects: dict[str, Any] = {}
        self._lock = threading.RLock()
        self.cancelled = threading.Event()
        self.started_ns = _now()
        self.ended_ns: int | None = None
        for spec in faults:
            self.add_fault(spec)

    # ----------------------------------------------------------------- faults and events
    @property
    def faults(self) -> tuple[FaultSpec, ...]:
        return tuple(self._specs)

    def add_fault(self, spec: FaultSpec) -> None:
        """Arm another fault for the rest of this run."""
        with self._lock:
            self._specs.append(spec)
            self._fired.append(0)
            self._agent_faults.clear()

    def record(
        self, agent: str, kind: str, fault_id: str | None = None, payload: Any = None
    ) -> None:
        """Append an event to this run's log."""
        self.events.append((_now(), agent, kind, fault_id, payload))

    def armed(self, layer_kinds: frozenset[str]) -> list[tuple[int, FaultSpec]]:
        """The armed faults of the given kinds, with their schedule index."""
        return [(i, s) for i, s in enumerate(self._specs) if s.kind in layer_kinds]

    def decide(self, index: int, selector: str, number: int) -> bool:
        """Whether armed fault ``index`` fires at occurrence ``number`` of ``selector``."""
        spec = self._specs[index]
        if not should_fire(spec, self.seed, index, selector, number, self._fired[index]):
            return False
        with self._lock:  # re-checked under the lock: another thread may have used up `times`
            if spec.times is not None and self._fired[index] >= spec.times:
                return False
            self._fired[index] += 1
            return True

    def fire(self, spec: FaultSpec, target: str, call_number: int | None) -> Firing:
        """Record that ``spec`` fired at ``target`` now."""
        with self._lock:
            firing = Firing(
                f"{self.run_id}#{len(self.firings) + 1}", spec, target, call_number, _now()
            )
            self.firings.append(firing)
            self._by_id[firing.fault_id] = firing
        self.events.append(
            (
                firing.injected_ns,
                target,
                "fault_injected",
                firing.fault_id,
                {"kind": spec.kind, "call": call_number, "params": spec.params()},
            )
        )
        return firing

    def rng(self, firing: Firing) -> random.Random:
        """The seeded generator for the choices one firing makes (which field, which value).

        Seeded by what the schedule fixes (seed, kind, target, call), never by the run id, so
        the same ``--chaos-seed`` replays the same wrong values.
        """
        return rng_for(self.seed, firing.spec.kind, firing.target, firing.call_number)

    def corrupted(self, firing: Firing) -> None:
        """``firing`` handed on a corrupted value that nothing has detected yet."""
        firing.corrupted = True
        with self._lock:
            self._hidden.append(firing)
            self._corruptions.append(firing)

    # -------------------------------------------------------- detection and recovery
    def detect(
        self,
        reason: str,
        *,
        fault_id: str | None = None,
        target: str | None = None,
        hidden: bool = True,
    ) -> int:
        """A failure surfaced now: mark the firing ``fault_id`` detected and, with ``hidden``,
        every corruption nothing had detected yet (of ``target`` only, when given).

        Returns how many firings were newly marked.
        """
        now = _now()
        marked = 0
        with self._lock:
            chosen = [self._by_id[fault_id]] if fault_id in self._by_id else []
            if hidden:
                keep: list[Firing] = []
                for firing in self._hidden:
                    (chosen if target is None or firing.target == target else keep).append(firing)
                self._hidden = keep
            for firing in chosen:
                if firing.detected_ns is not None:
                    continue
                if firing in self._hidden:
                    self._hidden.remove(firing)
                firing.detected_ns, firing.detected_by = now, reason
                self._pending.setdefault(firing.target, []).append(firing)
                self.events.append((now, firing.target, "fault_detected", firing.fault_id, reason))
                marked += 1
        return marked

    def complete(self, target: str, started_ns: int | None = None) -> None:
        """``target`` completed a step with a valid result: its surfaced faults are made good."""
        if target not in self._pending:
            return
        now = _now()
        with self._lock:
            for firing in self._pending.pop(target, ()):
                strategy = self.strategies.current()
                firing.recovered_ns, firing.strategy = now, strategy
                self.events.append(
                    (now, target, "fault_recovered", firing.fault_id, {"strategy": strategy})
                )

    def _failed(self, name: str, number: int, error: BaseException) -> None:
        fault_id = getattr(error, "fault_id", None)
        self.events.append(
            (_now(), name, "call_error", fault_id, {"call": number, "error": describe_error(error)})
        )
        if isinstance(error, InjectedFault):
            # An injected failure is no check of anyone's output: it detects only itself.
            self.detect(
                f"{type(error).__name__} in {name}", fault_id=fault_id, target=name, hidden=False
            )
        else:
            self.detect(f"{type(error).__name__} in {name}")

    # ------------------------------------------------------------------- agent calls
    def count_call(self, name: str) -> int:
        """Count one more call (or request, or delivery) of ``name``; returns its number."""
        return self.calls.next(name)

    def _index(self, name: str) -> tuple[int, ...]:
        """The armed agent-call faults that select ``name`` (cached until a fault is added)."""
        indices = tuple(
            i for i, s in enumerate(self._specs) if s.kind in AGENT_CALL_KINDS and s.matches(name)
        )
        self._agent_faults[name] = indices
        return indices

    def _plan(self, name: str, number: int, indices: tuple[int, ...]) -> list[Firing]:
        return [
            self.fire(self._specs[i], name, number) for i in indices if self.decide(i, name, number)
        ]

    def _received(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        from pytest_agentchaos.model.corruption import carries

        for firing in self._corruptions:
            corruption = firing.corruption
            if corruption is not None and (
                any(carries(a, corruption) for a in args)
                or any(carries(v, corruption) for v in kwargs.values())
            ):
                firing.propagation += 1
                self.record(name, "corruption_received", firing.fault_id, corruption.path)

    def _replay(self, name: str, number: int, key: str) -> Any:
        self.record(name, "effect_replayed", None, {"call": number, "key": key})
        self.complete(name)
        return self._effects[key]

    def _start(
        self,
        name: str,
        number: int,
        indices: tuple[int, ...],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
    ) -> tuple[str | None, list[Firing] | None]:
        """The head of a call on the full path: note propagation, record the start, fire."""
        key = effect_key(name, args, kwargs, options) if options.side_effect else None
        if key is not None and key in self._effects:
            return key, None
        if self._corruptions:
            self._received(name, args, kwargs)
        self.events.append((_now(), name, "call_start", None, number))
        return key, self._plan(name, number, indices) if indices else []

    def _ended(self, name: str, number: int, key: str | None, result: Any) -> Any:
        """The call returned ``result``: keep a side effect's result, record the end."""
        if key is not None:
            self._effects[key] = result
        self.events.append((_now(), name, "call_end", None, number))
        if self._pending:
            self.complete(name)
        return result

    def _faulted_call(
        self,
        name: str,
        number: int,
        plan: list[Firing],
        key: str | None,
        call: Invoke,
        options: CallOptions,
        owner: object,
        is_async: bool,
    ) -> Steps[Any]:
        """One call at which faults fired, written once for the sync and the async driver."""
        try:
            prelude = prepare(self, plan, call.fn, call.args, owner)
            if prelude.wait_s:
                yield Wait(prelude.wait_s, self.cancelled)
            if prelude.error is not None:
                raise prelude.error
            if prelude.skip:
                result = prelude.skipped_result
            else:
                result = yield Invoke(call.fn, prelude.args, call.kwargs)
            if key is not None:  # the effect happened, whatever acts on the result next
                self._effects[key] = result
            result = apply_after(self, plan, result)
        except asyncio.CancelledError:
            # The caller gave up (its own timeout): that is how a hang or delay surfaces.
            self._cancelled(name, number, plan)
            raise
        except Exception as error:
            recovery = yield from self._failed_steps(
                name, number, error, plan, call, options, owner, is_async
            )
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, None, result)

    def _cancelled(self, name: str, number: int, plan: list[Firing]) -> None:
        self.record(name, "call_cancelled", None, {"call": number})
        for firing in plan:
            self.detect(f"caller cancelled {name}", fault_id=firing.fault_id)

    def _failed_steps(
        self,
        name: str,
        number: int,
        error: Exception,
        plan: list[Firing] | None,
        call: Invoke,
        options: CallOptions,
        owner: object,
        is_async: bool,
    ) -> Steps[Recovery | None]:
        """Record a failed call and ask the strategies; ``None`` means re-raise it."""
        self._failed(name, number, error)
        if not self.strategies.apply():
            return None
        method = self.acall if is_async else self.call
        again = functools.partial(method, name, call.fn, call.args, call.kwargs, options, owner)
        failure = self._failure(name, number, error, plan, call, is_async, again)
        return (yield from self.strategies.recover_steps(failure))

    def call(
        self,
        name: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object = None,
    ) -> Any:
        """Run one call of agent ``name`` under this run's faults (the sync path).

        The paths where nothing fires stay flat (a call costs well under a microsecond more
        than a raw one); a call at which a fault fired, and every recovery, runs as steps.
        """
        number = self.calls.next(name)
        indices = self._agent_faults.get(name)
        if indices is None:
            indices = self._index(name)
        key = None
        if indices or options.side_effect or self._corruptions:
            key, plan = self._start(name, number, indices, args, kwargs, options)
            if plan is None:
                assert key is not None
                return self._replay(name, number, key)
            if plan:
                faulted = self._faulted_call(
                    name, number, plan, key, Invoke(fn, args, kwargs), options, owner, False
                )
                return run_sync(faulted)
        else:  # the common case: nothing armed here, nothing to replay or track
            self.events.append((_now(), name, "call_start", None, number))
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            failed = self._failed_steps(
                name, number, error, None, Invoke(fn, args, kwargs), options, owner, False
            )
            recovery = run_sync(failed)
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, key, result)

    async def acall(
        self,
        name: str,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object = None,
    ) -> Any:
        """Run one call of agent ``name`` under this run's faults (the async path)."""
        number = self.calls.next(name)
        indices = self._agent_faults.get(name)
        if indices is None:
            indices = self._index(name)
        key, plan = self._start(name, number, indices, args, kwargs, options)
        if plan is None:
            assert key is not None
            return self._replay(name, number, key)
        if plan:
            faulted = self._faulted_call(
                name, number, plan, key, Invoke(fn, args, kwargs), options, owner, True
            )
            return await run_async(faulted)
        try:
            result = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            self._cancelled(name, number, plan)
            raise
        except Exception as error:
            failed = self._failed_steps(
                name, number, error, None, Invoke(fn, args, kwargs), options, owner, True
            )
            recovery = await run_async(failed)
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, key, result)

    def _failure(
        self,
        name: str,
        number: int,
        error: BaseException,
        plan: list[Firing] | None,
        call: Invoke,
        is_async: bool,
        again: Callable[[], Any],
    ) -> Failure:
        fault_id = getattr(error, "fault_id", None)
        firing = self._by_id.get(fault_id) if fault_id else (plan[0] if plan else None)
        return CallFailure(
            _run=self,
            agent=name,
            error=error,
            fault=firing.spec if firing else None,
            fault_id=firing.fault_id if firing else None,
            call_number=number,
            args=call.args,
            kwargs=call.kwargs,
            is_async=is_async,
            _again=again,
        )

    # ------------------------------------------------------------------------- ending
    def finish(self, *, test_failed: bool = False) -> list[FaultResult]:
        """End the run: unblock hung calls and freeze every firing with its outcome.

        A failing test caught a corrupted value that the system itself accepted: that counts as
        a detection (by the test), so such a firing ends ``unrecovered``, not ``silent``.
        """
        self.cancelled.set()
        if test_failed and self._hidden:
            self.detect("test failed")
        self.ended_ns = _now()
        return [firing.freeze(self.run_id) for firing in self.firings]
