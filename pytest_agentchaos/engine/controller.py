"""The ``agentchaos`` fixture's object: one test's handle on its chaos run.

Without ``--chaos`` it is inert: faults injected through it do not fire and its assertions pass,
so a test written for chaos also passes as a steady-state test.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

from pytest_agentchaos.engine.injection import Patch, wrap
from pytest_agentchaos.model.faults import DELAY_KINDS, FaultSpec, parse_fault
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.model.records import Event

if TYPE_CHECKING:
    from pytest_agentchaos.engine.run import ChaosRun

__all__ = ["ChaosController", "Event"]


class ChaosController:
    """Inject faults imperatively, query events and outcomes, assert recovery."""

    def __init__(
        self,
        run: Any | None,
        *,
        reproduce: str | Callable[[], str] = "",
        session_seed: int | None = None,
    ) -> None:
        self.run: ChaosRun | None = run
        # A callable is asked once, when a message first needs the command.
        self._reproduce = reproduce
        self.session_seed = session_seed
        self._patches: list[Patch] = []

    @property
    def reproduce(self) -> str:
        """The command that replays this test's fault schedule (``""`` without ``--chaos``)."""
        if not isinstance(self._reproduce, str):
            self._reproduce = self._reproduce()
        return self._reproduce

    @property
    def enabled(self) -> bool:
        """Whether faults fire in this test (``--chaos`` was given)."""
        return self.run is not None

    @property
    def seed(self) -> int | None:
        """This test run's seed, derived from the session seed, the test id and repetition."""
        return self.run.seed if self.run is not None else None

    def inject(self, kind: str, **arguments: Any) -> FaultSpec:
        """Arm a fault for the rest of this test, like a ``chaos_<kind>`` marker would."""
        spec = parse_fault(kind, arguments)
        if self.run is not None:
            self.run.add_fault(spec)
        return spec

    def wrap(self, obj: Any, name: str, **options: Any) -> Any:
        """:func:`~pytest_agentchaos.wrap` for this test only: undone at teardown."""
        patch = wrap(obj, name, **options)
        self._patches.append(patch)
        return patch.wrapper

    def detected(
        self,
        target: str | None = None,
        reason: str = "detected by the test",
        *,
        kind: str | None = None,
    ) -> int:
        """Say that something went wrong, for checks that do not raise; returns how many
        firings that marks detected.

        With neither ``target`` nor ``kind``: every corrupted value not yet detected. With
        either: every firing not yet detected at ``target`` (an agent, or either end of a
        ``sender->receiver`` link) and of ``kind``, so a lost message or a missed tick that
        your own check noticed counts as detected too. Without ``kind``, delays (``delay``,
        ``message_delay``) are left alone: once over nothing of them is left to notice, so
        mark one with ``kind="delay"``.
        """
        if self.run is None:
            return 0
        if target is None and kind is None:
            return self.run.detect(reason)
        marked = 0
        for firing in list(self.run.firings):
            ends = (firing.target, *firing.target.split("->"))
            of_kind = (
                firing.spec.kind not in DELAY_KINDS if kind is None else firing.spec.kind == kind
            )
            selected = (target is None or target in ends) and of_kind
            if selected and firing.detected_ns is None:
                marked += self.run.detect(reason, fault_id=firing.fault_id, hidden=False)
        return marked

    def calls(self, agent: str) -> int:
        return self.run.calls.get(agent, 0) if self.run is not None else 0

    def events(self, kind: str | None = None, agent: str | None = None) -> list[Event]:
        if self.run is None:
            return []
        return [
            Event(seq=seq, ts_ns=ts, agent=name, kind=event_kind, fault_id=fid, payload=payload)
            for seq, (ts, name, event_kind, fid, payload) in enumerate(self.run.events)
            if (kind is None or event_kind == kind) and (agent is None or name == agent)
        ]

    def faults(self, kind: str | None = None, target: str | None = None) -> list[FaultResult]:
        """Every firing so far, with the outcome it would have if the test ended now."""
        if self.run is None:
            return []
        return [
            firing.freeze(self.run.run_id)
            for firing in self.run.firings
            if (kind is None or firing.spec.kind == kind)
            and (target is None or firing.target == target)
        ]

    def assert_recovered(self, target: str, within: float | None = None) -> None:
        """Every fault that fired at ``target`` so far was recovered (within ``within`` s)."""
        if self.run is None:
            return
        firings = [f for f in self.faults(target=target) if f.outcome is not Outcome.TOLERATED]
        if not firings:
            fired = sorted({f.target for f in self.faults()}) or ["nothing"]
            self._fail(
                f"no fault that needed recovery fired at {target!r} "
                f"(faults fired at: {', '.join(fired)})"
            )
        for firing in firings:
            if firing.outcome is not Outcome.RECOVERED:
                self._fail(
                    f"{firing.kind} at {target!r} (call {firing.call_number}) ended "
                    f"{firing.outcome.value}, not recovered"
                )
            if within is not None and firing.mttr_s is not None and firing.mttr_s > within:
                self._fail(
                    f"{firing.kind} at {target!r} recovered in {firing.mttr_s:.3f} s, "
                    f"over the {within:g} s allowed"
                )

    def assert_no_silent(self) -> None:
        """No corrupted value went through undetected so far."""
        silent = [f for f in self.faults() if f.outcome is Outcome.SILENT]
        if silent:
            listed = ", ".join(f"{f.kind} at {f.target!r}" for f in silent)
            self._fail(f"{len(silent)} corrupted value(s) went through undetected: {listed}")

    def assert_parity(self, graph: Any, input: Any, config: Any) -> None:
        """A LangGraph thread (``config``) ended in the state of the fault-free run of
        ``input`` (run on a fresh thread with chaos suspended); names the first differing key.
        """
        # By name: the engine layer does not depend on the LangGraph integration above it.
        parity = import_module("pytest_agentchaos.integrations.langgraph.parity")
        parity.assert_parity(graph, input, config, reproduce=self.reproduce)

    def _fail(self, message: str) -> None:
        hint = f"\nreproduce: {self.reproduce}" if self.reproduce else ""
        raise AssertionError(f"chaos: {message}{hint}")

    def close(self) -> None:
        while self._patches:
            self._patches.pop().undo()

    def __repr__(self) -> str:
        state = f"seed={self.seed}, faults={len(self.run.firings)}" if self.run else "inert"
        return f"<ChaosController {state}>"
