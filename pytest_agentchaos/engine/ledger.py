"""A run's event log and fault firings, ordered under one lock with one clock.

Every event is stamped *inside* the lock it is appended under, so a run's events are in time
order even under threads, and a completion can never be stamped before the detection it makes
good. A call that nothing happens to is one record appended when it ends, without the lock
(:mod:`pytest_agentchaos.model.log`): under threads it may land out of order, and
:attr:`RunLedger.events` (and the store) put it back in place. Once the run is closed nothing
more is recorded: a thread still running after its test ended cannot add events to the run or
change its firings.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pytest_agentchaos.engine.propagation import CorruptionIndex
from pytest_agentchaos.engine.recovery import StrategyRunner
from pytest_agentchaos.engine.steps import Signal
from pytest_agentchaos.model import log
from pytest_agentchaos.model.faults import FaultSpec
from pytest_agentchaos.model.log import EventTuple, LogRecord
from pytest_agentchaos.model.records import Firing

_now = time.monotonic_ns
#: Guards the first read of a run's ``cancelled`` (rare: most runs never wait on it).
_CANCEL_GUARD = threading.Lock()

__all__ = ["RunLedger"]


class _Closed:
    """Where a closed run's events go: nowhere."""

    def append(self, record: LogRecord) -> None:
        pass


_CLOSED = _Closed()


class RunLedger:
    """The bookkeeping half of a chaos run: events, firings, detection and recovery."""

    strategies: StrategyRunner

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        #: What the run recorded, in the order it was recorded: events, and each call that
        #: nothing happened to as one record. Read :attr:`events` for the event stream.
        self.log: list[LogRecord] = []
        self.firings: list[Firing] = []
        self.ended_ns: int | None = None
        self._cancel_signal: Signal | None = None  # made on first use: see `cancelled`
        self._cancel_requested = False
        self._lock = threading.Lock()  # not reentrant: cheaper, and nothing here re-enters
        self._sink: list[LogRecord] | _Closed = self.log  # _CLOSED once the run ended
        self._by_id: dict[str, Firing] = {}
        self._pending: dict[str, list[Firing]] = {}  # surfaced, waiting for a good call
        self._hidden: dict[str, Firing] = {}  # corruptions nothing has detected yet, by id
        self._blocking: dict[str, list[Firing]] = {}  # hangs still blocking a caller
        self._asked: dict[str, dict[str, list[Firing]]] = {}  # target -> call key -> firings
        self._sketches: dict[str, set[frozenset[Any]]] = {}  # target -> sketches of those calls
        self.corruptions = CorruptionIndex()

    @property
    def cancelled(self) -> Signal:
        """Set when the run ends: async waits on it (hangs, delays, retries, bus replies) wake
        at once. Made on first use, already set if the run has ended: most runs never wait,
        and a Signal costs a few µs to make and to set, test after test."""
        signal = self._cancel_signal
        if signal is None:
            with _CANCEL_GUARD:
                signal = self._cancel_signal
                if signal is None:
                    signal = Signal()
                    if self._cancel_requested:
                        signal.set()
                    self._cancel_signal = signal
        return signal

    def cancel(self) -> None:
        """Set :attr:`cancelled` (wake every wait on it), without making it if nobody asked."""
        with _CANCEL_GUARD:
            self._cancel_requested = True
            signal = self._cancel_signal
        if signal is not None:
            signal.set()

    # ------------------------------------------------------------------------- events
    @property
    def events(self) -> list[EventTuple]:
        """The run's events so far, in time order, a call's start and end as two events
        (built from :attr:`log` on each read: keep the list if you read it often)."""
        return log.events(self.log)

    def record(
        self, agent: str, kind: str, fault_id: str | None = None, payload: Any = None
    ) -> None:
        """Append an event to this run's log (dropped once the run has ended)."""
        with self._lock:
            self._sink.append((_now(), agent, kind, fault_id, payload))

    def record_delivery(
        self, sender: str, receiver: str, message_id: str, message_type: str, topic: str | None
    ) -> None:
        """A message delivery no fault acted on: its ``message_sent`` and ``message_delivered``
        events as one record (:data:`~pytest_agentchaos.model.log.DeliveryRecord`), stamped
        under the lock; dropped once the run has ended."""
        with self._lock:
            self._sink.append((_now(), sender, receiver, message_id, message_type, topic))

    # ------------------------------------------------------------------------ firings
    def fire(
        self, spec: FaultSpec, target: str, call_number: int | None, *, acts_later: bool = False
    ) -> Firing:
        """Record that ``spec`` fired at ``target``.

        With ``acts_later`` (a fault that acts on a call's result) it is stamped when it acts
        (:meth:`acted`), not now: its MTTD must not include the call's own duration.
        """
        with self._lock:
            firing = Firing(
                f"{self.run_id}#{len(self.firings) + 1}", spec, target, call_number, _now()
            )
            self.firings.append(firing)
            self._by_id[firing.fault_id] = firing
            if acts_later:
                firing.acting = True
            else:
                self._injected(firing)
        return firing

    def acted(self, firing: Firing) -> None:
        """An after-call fault acts now (or, its call having failed first, never will)."""
        with self._lock:
            if firing.acting:
                firing.acting = False
                firing.injected_ns = _now()
                self._injected(firing)

    def _injected(self, firing: Firing) -> None:
        spec = firing.spec
        payload = {"kind": spec.kind, "call": firing.call_number, "params": spec.params()}
        self._sink.append(
            (firing.injected_ns, firing.target, "fault_injected", firing.fault_id, payload)
        )

    def corrupted(self, firing: Firing) -> None:
        """``firing`` handed on a corrupted value that nothing has detected yet."""
        firing.corrupted = True
        with self._lock:
            self._hidden[firing.fault_id] = firing
            if firing.corruption is not None:
                self.corruptions.add(firing)

    def asked(self, firing: Firing, key: str, sketch: frozenset[Any]) -> None:
        """The corrupted value of ``firing`` answered the call with idempotency key ``key``
        (whose arguments' :func:`~pytest_agentchaos.engine.keys.sketch` is ``sketch``): the
        same question asked again detects it (re-asking is detecting)."""
        with self._lock:
            self._asked.setdefault(firing.target, {}).setdefault(key, []).append(firing)
            self._sketches.setdefault(firing.target, set()).add(sketch)

    def may_ask_again(self, target: str, sketch: frozenset[Any]) -> bool:
        """Whether a call of ``target`` with this sketch may repeat a remembered question."""
        sketches = self._sketches.get(target)
        return sketches is not None and sketch in sketches

    def blocking(self, firings: list[Firing], blocked: bool) -> None:
        """Hangs of these firings start (``blocked``) or stop blocking their caller."""
        with self._lock:
            for firing in firings:
                waiting = self._blocking.setdefault(firing.target, [])
                if blocked:
                    waiting.append(firing)
                elif firing in waiting:
                    waiting.remove(firing)
                if not waiting:
                    del self._blocking[firing.target]

    def start_call(
        self,
        name: str,
        number: int,
        key: str | None,
        kind: str = "call_start",
        payload: Any = None,
        *,
        defer: bool = False,
    ) -> tuple[int, bool]:
        """Record the start of a call of ``name`` and what it detects by starting; returns
        ``(started_ns, deferred)``.

        A call that repeats the question a corrupted value answered (same key) detects that
        corruption; a call that starts while a hang of the same target still blocks another
        caller detects the hang (that caller stopped waiting for it). Both at this start.
        With ``defer``, a start that detects nothing is not recorded yet (``deferred``): the
        call's end records it with the end (:meth:`end_call`), or :meth:`record_start` does
        when the call fails.
        """
        with self._lock:
            now = _now()
            hung = self._blocking.get(name, ())
            repeated = self._asked.get(name, {}).pop(key, ()) if key is not None else ()
            if defer and not hung and not repeated:
                return now, True
            self._sink.append((now, name, kind, None, number if payload is None else payload))
            for firing in hung:
                self._detected(firing, f"{name} called again while it hung", now)
            for firing in repeated:
                self._detected(firing, f"{name} asked the same question again", now)
            return now, False

    def record_start(self, name: str, number: int, started: int) -> None:
        """A call whose start was deferred did not complete: its start is an event after all."""
        with self._lock:
            self._sink.append((started, name, log.CALL_START, None, number))

    def end_call(self, name: str, number: int, started: int, deferred: bool) -> None:
        """Record the end of a call that returned, making good what its target had surfaced
        before it started; a deferred start is recorded with it, as one call record."""
        with self._lock:
            ended = _now()
            if deferred:
                self._sink.append((started, ended, name, number))
            else:
                self._sink.append((ended, name, log.CALL_END, None, number))
            if self._pending:
                self._complete_locked(name, started, ended)

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
        with self._lock:
            if self.ended_ns is not None:
                return 0
            now = _now()
            chosen = [self._by_id[fault_id]] if fault_id in self._by_id else []
            if hidden:
                hidden_now = self._hidden.values()
                chosen += [f for f in hidden_now if target is None or f.target == target]
            return sum(self._detected(firing, reason, now) for firing in chosen)

    def _detected(self, firing: Firing, reason: str, now: int) -> bool:
        if firing.detected_ns is not None or self.ended_ns is not None:
            return False
        self._hidden.pop(firing.fault_id, None)
        firing.detected_ns, firing.detected_by = now, reason
        self._pending.setdefault(firing.target, []).append(firing)
        self._sink.append((now, firing.target, "fault_detected", firing.fault_id, reason))
        return True

    def complete(self, target: str, started_ns: int | None = None) -> None:
        """``target`` completed a step with a valid result: its surfaced faults are made good.

        Only firings detected before the completing call started (``started_ns``) count: a
        call already running when the failure surfaced does not recover it. ``None`` (a
        strategy's answer, a delivery) makes good every surfaced firing of ``target``.
        """
        if target in self._pending:
            with self._lock:
                self._complete_locked(target, started_ns, _now())

    def _complete_locked(self, target: str, started_ns: int | None, now: int) -> None:
        """:meth:`complete` with the lock held and ``now`` read under it (a call's end)."""
        waiting = self._pending.get(target)
        if not waiting or self.ended_ns is not None:
            return
        strategy = self.strategies.current()
        still: list[Firing] = []
        for firing in waiting:
            assert firing.detected_ns is not None
            if started_ns is not None and started_ns < firing.detected_ns:
                still.append(firing)
                continue
            firing.recovered_ns, firing.strategy = now, strategy
            payload = {"strategy": strategy}
            self._sink.append((now, target, "fault_recovered", firing.fault_id, payload))
        if still:
            self._pending[target] = still
        else:
            del self._pending[target]

    def close(self, *, test_failed: bool, never_fired: list[tuple[str, str]]) -> None:
        """End the log: a failing test detects what was still hidden; then record which faults
        never fired (``(target, description)``) and accept nothing more."""
        with self._lock:
            if self.ended_ns is not None:
                return
            now = _now()
            if test_failed:
                for firing in list(self._hidden.values()):
                    self._detected(firing, "test failed", now)
            for target, description in never_fired:
                self._sink.append((now, target, "fault_never_fired", None, description))
            self.ended_ns = now
            self._sink = _CLOSED
