"""The chaos run: one test run's fault schedule, event log and recovery bookkeeping.

:class:`ChaosRun` is the engine behind the ``agentchaos`` fixture. It never imports pytest, so
the CLI and the experiment runner drive it the same way the plugin does.
"""

from __future__ import annotations

import functools
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from threading import get_ident
from typing import Any

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.engine.calls import CallOptions, apply_after, prepare
from pytest_agentchaos.engine.keys import call_key, effect_key, sketch
from pytest_agentchaos.engine.ledger import RunLedger
from pytest_agentchaos.engine.recovery import (
    CallFailure,
    Failure,
    RecoverHook,
    Recovery,
    StrategyRunner,
)
from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_async, run_sync
from pytest_agentchaos.engine.threads import owners
from pytest_agentchaos.errors import InjectedFault, describe_error
from pytest_agentchaos.model.faults import AGENT_CALL_KINDS, FaultSpec
from pytest_agentchaos.model.outcomes import FaultResult
from pytest_agentchaos.model.records import CallCounts, Firing
from pytest_agentchaos.model.schedule import rng_for, should_fire

_now = time.monotonic_ns

__all__ = ["ChaosRun", "Failure", "RecoverHook", "Recovery", "RunSettings"]


class ChaosRun(RunLedger):
    """One test run (or repetition) under chaos: its schedule and its agent calls.

    The bookkeeping (events, firings, detection, recovery) is :class:`RunLedger`'s.
    """

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
        super().__init__(run_id)
        self.nodeid = nodeid
        self.seed = seed
        self.repetition = repetition
        self.settings = settings or RunSettings()
        #: The session's store as strategies may read it (``ReadOnlyStore``), if any.
        self.store = store
        self.calls = CallCounts()
        self._counters = self.calls.counters  # read directly on the hot path
        self.strategies = StrategyRunner(self, recover)
        self._specs: list[FaultSpec] = []
        self._fired: list[int] = []
        self._agent_faults: dict[str, tuple[int, ...]] = {}
        self._corruptions: list[Firing] = []  # every corruption with a value, detected or not
        self._effects: dict[str, Any] = {}
        self.started_ns = _now()
        for spec in faults:
            self.add_fault(spec)

    # ------------------------------------------------------------------------ schedule
    @property
    def faults(self) -> tuple[FaultSpec, ...]:
        return tuple(self._specs)

    @property
    def fault_count(self) -> int:
        """How many faults are armed (``len(faults)`` without copying them: a delivery asks)."""
        return len(self._specs)

    def add_fault(self, spec: FaultSpec) -> None:
        """Arm another fault for the rest of this run."""
        with self._lock:
            self._specs.append(spec)
            self._fired.append(0)
            self._agent_faults.clear()

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
            if self.ended_ns is not None:  # a thread outliving its test fires nothing more
                return False
            self._fired[index] += 1
            return True

    def rng(self, firing: Firing) -> random.Random:
        """The seeded generator for the choices one firing makes (which field, which value).

        Seeded by what the schedule fixes (seed, kind, target, call), never by the run id, so
        the same ``--chaos-seed`` replays the same wrong values.
        """
        return rng_for(self.seed, firing.spec.kind, firing.target, firing.call_number)

    def corrupted(self, firing: Firing) -> None:
        """``firing`` handed on a corrupted value that nothing has detected yet."""
        super().corrupted(firing)
        if firing.corruption is not None:
            with self._lock:
                self._corruptions.append(firing)

    # -------------------------------------------------------------------- failures
    def _failed(self, name: str, number: int, error: BaseException) -> None:
        fault_id = getattr(error, "fault_id", None)
        payload = {"call": number, "error": describe_error(error)}
        self.record(name, "call_error", fault_id, payload)
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
        """The armed agent-call faults that select ``name`` and can fire (cached until a fault
        is added). One at probability 0 never fires: left out, so that a test can turn its
        faults down to 0 for a baseline and its calls stay on the flat path."""
        indices = tuple(
            i
            for i, s in enumerate(self._specs)
            if s.kind in AGENT_CALL_KINDS and s.probability > 0.0 and s.matches(name)
        )
        self._agent_faults[name] = indices
        return indices

    def _received(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        for firing in self.corruptions.carried(args, kwargs):
            firing.propagation += 1
            path = firing.corruption.path if firing.corruption else ""
            self.record(name, "corruption_received", firing.fault_id, path)

    def _start(
        self,
        name: str,
        number: int,
        indices: tuple[int, ...],
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
    ) -> tuple[str | None, list[Firing] | None, int, bool]:
        """The head of a call on the full path: ``(key, plan, started_ns, deferred)``.

        ``plan`` (the firings at this call) is ``None`` when a side effect's recorded result is
        replayed instead: a replay counts as a call of the target (it has a call number) but
        no fault fires at it, since the body does not run. ``deferred``: the start is not
        recorded yet (nothing fired or was detected at it; see ``RunLedger.start_call``).
        """
        key = effect_key(name, fn, args, kwargs, options.key) if options.side_effect else None
        asked = key
        if (
            asked is None
            and name in self._sketches
            and self.may_ask_again(name, sketch(args, kwargs))
        ):
            asked = call_key(name, fn, args, kwargs)
        if key is not None and key in self._effects:
            payload = {"call": number, "key": key}
            started, _ = self.start_call(name, number, asked, "effect_replayed", payload)
            return key, None, started, False
        if self._corruptions:
            self._received(name, args, kwargs)
        # Which faults fire is decided before the start is stamped, so that a call at which
        # one fires records its start (ahead of the firing) and any other defers it.
        chosen = [i for i in indices if self.decide(i, name, number)] if indices else []
        started, deferred = self.start_call(name, number, asked, defer=not chosen)
        plan = [
            self.fire(self._specs[i], name, number, acts_later=self._specs[i].acts_after_call)
            for i in chosen
        ]
        return key, plan, started, deferred

    def _replay(self, name: str, key: str, started: int) -> Any:
        self.complete(name, started)
        return self._effects[key]

    def _ended(
        self,
        name: str,
        number: int,
        key: str | None,
        started: int,
        result: Any,
        deferred: bool = False,
    ) -> Any:
        """The call returned ``result``: keep a side effect's result, record the end."""
        if key is not None:
            self._effects[key] = result
        self.end_call(name, number, started, deferred)
        return result

    def _faulted_call(
        self,
        name: str,
        number: int,
        plan: list[Firing],
        key: str | None,
        started: int,
        call: Invoke,
        options: CallOptions,
        owner: object,
        is_async: bool,
    ) -> Steps[Any]:
        """One call at which faults fired, written once for the sync and the async driver."""
        try:
            prelude = prepare(self, plan, call.fn, call.args, owner)
            if prelude.wait_s:
                self.blocking(prelude.blocking, True)
                try:
                    yield Wait(prelude.wait_s, self.cancelled)
                finally:
                    self.blocking(prelude.blocking, False)
            if prelude.error is not None:
                raise prelude.error
            if prelude.skip:
                result = prelude.skipped_result
            else:
                result = yield Invoke(call.fn, prelude.args, call.kwargs)
            if key is not None:  # the effect happened, whatever acts on the result next
                self._effects[key] = result
            result = apply_after(self, plan, result)
        except Exception as error:
            self._settle(plan)
            recovery = yield from self._failed_steps(
                name, number, error, plan, call, options, owner, is_async
            )
            if recovery is None:
                raise
            return recovery.value
        except BaseException as error:
            self._settle(plan)
            if _is_cancellation(error):
                # The caller gave up (its own timeout): that is how a hang or delay surfaces.
                self._cancelled(name, number, plan)
            raise
        self._remember_questions(name, plan, key, call)
        return self._ended(name, number, None, started, result)

    def _settle(self, plan: list[Firing]) -> None:
        """The call failed before its after-call faults could act: stamp them now."""
        for firing in plan:
            self.acted(firing)

    def _remember_questions(
        self, name: str, plan: list[Firing], key: str | None, call: Invoke
    ) -> None:
        """Corrupted values remember their question, so that asking it again detects them.

        Only a corrupted *value* (``hallucination``, ``token_limit``): after a memory wipe the
        same question gets an answer from the wiped memory, which repeats nothing.
        """
        for firing in plan:
            if firing.corruption is not None:
                asked = key or call_key(name, call.fn, call.args, call.kwargs)
                if asked is not None:
                    self.asked(firing, asked, sketch(call.args, call.kwargs))

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
        if owners and owners.get(get_ident(), self) is not self:
            return fn(*args, **kwargs)  # a thread left running by an ended run: not ours
        counter = self._counters.get(name)
        number = next(counter) if counter is not None else self.calls.next(name)
        indices = self._agent_faults.get(name)
        if indices is None:
            indices = self._index(name)
        if indices or options.side_effect or self._corruptions:
            return self._armed_call(name, number, indices, fn, args, kwargs, options, owner)
        # The common case, kept flat: nothing armed here, nothing to replay or track. The call
        # is one record, appended when it ends (model/log.py). The lock is taken by hand:
        # `with` costs more, and nothing between can raise.
        started = _now()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self.record_start(name, number, started)  # no end: its start is an event of its own
            if not isinstance(error, Exception):
                raise
            return self._recover_sync(name, number, error, fn, args, kwargs, options, owner)
        if self._pending:  # a surfaced fault waits for a good call: this one may be it
            with self._lock:
                ended = _now()
                self._sink.append((started, ended, name, number))
                self._complete_locked(name, started, ended)
            return result
        # No lock: list.append is atomic, and a record that lands out of order (threads) is
        # put in order when the log is read or stored (model/log.py).
        self._sink.append((started, _now(), name, number))
        return result

    def _armed_call(
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
        """A sync call with something to track: flat unless a fault fires at it."""
        key, plan, started, deferred = self._start(name, number, indices, fn, args, kwargs, options)
        if plan is None:
            assert key is not None
            return self._replay(name, key, started)
        if plan:
            call = Invoke(fn, args, kwargs)
            faulted = self._faulted_call(
                name, number, plan, key, started, call, options, owner, False
            )
            return run_sync(faulted)
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            if deferred:
                self.record_start(name, number, started)
            if not isinstance(error, Exception):
                raise
            return self._recover_sync(name, number, error, fn, args, kwargs, options, owner)
        return self._ended(name, number, key, started, result, deferred)

    def _recover_sync(
        self,
        name: str,
        number: int,
        error: Exception,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        options: CallOptions,
        owner: object,
    ) -> Any:
        """A sync call raised with no fault fired: record it, let the strategies try."""
        failed = self._failed_steps(
            name, number, error, None, Invoke(fn, args, kwargs), options, owner, False
        )
        recovery = run_sync(failed)
        if recovery is None:
            raise error
        return recovery.value

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

        if owners and owners.get(get_ident(), self) is not self:
            return await fn(*args, **kwargs)  # a thread left running by an ended run
        number = self.calls.next(name)
        indices = self._agent_faults.get(name)
        if indices is None:
            indices = self._index(name)
        key, plan, started, deferred = self._start(name, number, indices, fn, args, kwargs, options)
        if plan is None:
            assert key is not None
            return self._replay(name, key, started)
        if plan:
            call = Invoke(fn, args, kwargs)
            faulted = self._faulted_call(
                name, number, plan, key, started, call, options, owner, True
            )
            return await run_async(faulted)
        try:
            result = await fn(*args, **kwargs)
        except BaseException as error:
            if deferred:
                self.record_start(name, number, started)
            if isinstance(error, asyncio.CancelledError):
                self._cancelled(name, number, plan)
            if not isinstance(error, Exception):
                raise
            call = Invoke(fn, args, kwargs)
            failed = self._failed_steps(name, number, error, None, call, options, owner, True)
            recovery = await run_async(failed)
            if recovery is None:
                raise
            return recovery.value
        return self._ended(name, number, key, started, result, deferred)

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
        a detection (by the test), so such a firing ends ``unrecovered``, not ``silent``. Faults
        that never fired are recorded (``fault_never_fired``) before the log closes.
        """
        self.cancel()
        fired = {id(firing.spec) for firing in self.firings}
        never = [
            (spec.target, describe_spec(spec)) for spec in self._specs if id(spec) not in fired
        ]
        self.close(test_failed=test_failed, never_fired=never)
        return [firing.freeze(self.run_id) for firing in self.firings]


def _is_cancellation(error: BaseException) -> bool:
    # asyncio is looked up, not imported: a sync-only session never loads it.
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(error, asyncio.CancelledError)


def describe_spec(spec: FaultSpec) -> str:
    """A fault as the marker that arms it: ``chaos_crash(target='pricing', at_call=[1])``."""
    arguments = ", ".join(f"{key}={value!r}" for key, value in spec.params().items())
    return f"chaos_{spec.kind}({arguments})"
