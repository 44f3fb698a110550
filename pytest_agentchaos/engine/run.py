"""The chaos run: one test run's fault schedule, event log and recovery bookkeeping.

:class:`ChaosRun` is the engine behind the ``agentchaos`` fixture. It never imports pytest, so
the CLI and the experiment runner drive it the same way the plugin does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.calls import CallOptions, apply_after, effect_key, prepare
from pytest_agentchaos.engine.recovery import Failure, RecoverHook, Recovery, StrategyRunner
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
    ) -> None:
        self.run_id = run_id
        self.nodeid = nodeid
        self.seed = seed
        self.repetition = repetition
        self.settings = settings or RunSettings()
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

    def rng(self, firing: Firing) -> Any:
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

    def complete(self, target: str) -> None:
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

    def _count(self, name: str) -> tuple[int, tuple[int, ...]]:
        number = self.count_call(name)
        indices = self._agent_faults.get(name)
        return number, self._index(name) if indices is None else indices

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

    def call(
        self,
        name: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object = None,
    ) -> Any:
        """Run one call of agent ``name`` under this run's faults (the sync path)."""
        number = self.calls.next(name)
        indices = self._agent_faults.get(name)
        if indices is None:
            indices = self._index(name)
        if indices or options.side_effect or self._corruptions:
            return self._call_full(name, number, indices, fn, args, kwargs, options, owner)
        # The common case, kept flat: nothing armed here, nothing to replay or track.
        events = self.events
        events.append((_now(), name, "call_start", None, number))
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            recovery = self._handle_error(
                name, number, error, None, fn, args, kwargs, options, owner
            )
            if recovery is None:
                raise
            return recovery.value
        events.append((_now(), name, "call_end", None, number))
        if self._pending:
            self.complete(name)
        return result

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

    def _ran(self, key: str | None, plan: list[Firing], result: Any) -> Any:
        """The body returned: keep a side effect's result, then let result faults act."""
        if key is not None:
            self._effects[key] = result
        return apply_after(self, plan, result) if plan else result

    def _ended(self, name: str, number: int, result: Any) -> Any:
        self.events.append((_now(), name, "call_end", None, number))
        if self._pending:
            self.complete(name)
        return result

    def _call_full(
        self,
        name: str,
        number: int,
        indices: tuple[int, ...],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object,
    ) -> Any:
        key, plan = self._start(name, number, indices, args, kwargs, options)
        if plan is None:
            assert key is not None
            return self._replay(name, number, key)
        try:
            if not plan:  # armed here, but nothing fired at this call
                result = self._ran(key, plan, fn(*args, **kwargs))
            else:
                prelude = prepare(self, plan, fn, args, owner)
                if prelude.wait_s:
                    self.cancelled.wait(prelude.wait_s)
                if prelude.error is not None:
                    raise prelude.error
                result = prelude.skipped_result if prelude.skip else fn(*prelude.args, **kwargs)
                result = self._ran(key, plan, result)
        except Exception as error:
            recovery = self._handle_error(
                name, number, error, plan, fn, args, kwargs, options, owner
            )
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, result)

    def _handle_error(
        self,
        name: str,
        number: int,
        error: Exception,
        plan: list[Firing] | None,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object,
    ) -> Recovery | None:
        """Record a failed call and ask the strategies; ``None`` means re-raise it."""
        self._failed(name, number, error)
        if not self.strategies.apply():
            return None
        again = lambda: self.call(name, fn, args, kwargs, options, owner)  # noqa: E731
        return self.strategies.recover(
            self._failure(name, number, error, plan, args, kwargs, False, again)
        )

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
        import asyncio

        number, indices = self._count(name)
        key, plan = self._start(name, number, indices, args, kwargs, options)
        if plan is None:
            assert key is not None
            return self._replay(name, number, key)
        try:
            if not plan:
                result = self._ran(key, plan, await fn(*args, **kwargs))
            else:
                prelude = prepare(self, plan, fn, args, owner)
                if prelude.wait_s:
                    await asyncio.sleep(prelude.wait_s)
                if prelude.error is not None:
                    raise prelude.error
                if prelude.skip:
                    result = prelude.skipped_result
                else:
                    result = await fn(*prelude.args, **kwargs)
                result = self._ran(key, plan, result)
        except asyncio.CancelledError:
            # The caller gave up (its own timeout): that is how a hang or delay surfaces.
            self.record(name, "call_cancelled", None, {"call": number})
            for firing in plan:
                self.detect(f"caller cancelled {name}", fault_id=firing.fault_id)
            raise
        except Exception as error:
            self._failed(name, number, error)
            if not self.strategies.apply():
                raise
            again = lambda: self.acall(name, fn, args, kwargs, options, owner)  # noqa: E731
            recovery = await self.strategies.arecover(
                self._failure(name, number, error, plan, args, kwargs, True, again)
            )
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, result)

    def _failure(
        self,
        name: str,
        number: int,
        error: BaseException,
        plan: list[Firing] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        is_async: bool,
        again: Callable[[], Any],
    ) -> Failure:
        fault_id = getattr(error, "fault_id", None)
        firing = self._by_id.get(fault_id) if fault_id else (plan[0] if plan else None)
        return Failure(self, name, error, firing, number, args, kwargs, is_async, again)

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
