"""What agent-call faults do before and after the wrapped call runs.

The chaos run's faulted call (one generator of steps, for the sync and the async driver) asks
:func:`prepare` what to do before the call and :func:`apply_after` what to do to its result.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_agentchaos.config.settings import RunSettings
from pytest_agentchaos.errors import (
    AgentHung,
    AgentLooping,
    AgentRefused,
    TokenLimitExceeded,
)
from pytest_agentchaos.model.corruption import hallucinate, truncate, wipe_memory
from pytest_agentchaos.model.faults import (
    CrashFault,
    DelayFault,
    HallucinationFault,
    HangFault,
    InfiniteLoopFault,
    MemoryWipeFault,
    RefusalFault,
    SkipStepFault,
    TokenLimitFault,
    crash_error_type,
)
from pytest_agentchaos.model.records import Firing


class CallSite(Protocol):
    """What faults acting on a call need of their run (so this module does not import it)."""

    settings: RunSettings

    def corrupted(self, firing: Firing) -> None: ...

    def acted(self, firing: Firing) -> None: ...

    def rng(self, firing: Firing) -> random.Random: ...


@dataclass(frozen=True)
class CallOptions:
    """How an agent is declared: ``side_effect`` agents run once per idempotency key."""

    side_effect: bool = False
    key: str | Callable[..., str] | None = None


@dataclass
class Prelude:
    """What happens before the wrapped call: waits, an error to raise, or a skipped call."""

    args: tuple[Any, ...]
    delay_s: float = 0.0
    block_s: float = 0.0
    error: BaseException | None = None
    skip: bool = False
    skipped_result: Any = None
    blocking: list[Firing] = dataclasses.field(default_factory=list)  # hangs, while they wait

    @property
    def wait_s(self) -> float:
        """How long the call waits first: a delay, then a hang or loop until its deadline."""
        return self.delay_s + self.block_s


def prepare(
    run: CallSite, plan: list[Firing], fn: Callable[..., Any], args: tuple[Any, ...], owner: object
) -> Prelude:
    """Apply the firings that act before the call; the caller does the waiting."""
    prelude = Prelude(args)
    for firing in plan:
        spec = firing.spec
        if isinstance(spec, DelayFault):
            prelude.delay_s += spec.seconds
        elif isinstance(spec, MemoryWipeFault):
            _wipe(run, firing, prelude, fn, owner)
        elif prelude.error is not None or prelude.skip:
            continue
        elif isinstance(spec, CrashFault) and spec.when == "before":
            prelude.error = crash_error_type(spec.error)(
                f"chaos: agent {firing.target!r} crashed before call {firing.call_number}",
                agent=firing.target,
                fault_id=firing.fault_id,
            )
        elif isinstance(spec, HangFault | InfiniteLoopFault):
            prelude.block_s = spec.seconds if spec.seconds is not None else run.settings.deadline_s
            prelude.blocking.append(firing)
            error_type = AgentHung if isinstance(spec, HangFault) else AgentLooping
            what = "hung" if isinstance(spec, HangFault) else "looped without progress"
            prelude.error = error_type(
                f"chaos: agent {firing.target!r} {what} for {prelude.block_s:g} s (deadline)",
                agent=firing.target,
                fault_id=firing.fault_id,
            )
        elif isinstance(spec, RefusalFault):
            prelude.error = AgentRefused(
                f"chaos: agent {firing.target!r} refused: {spec.message}",
                agent=firing.target,
                fault_id=firing.fault_id,
            )
        elif isinstance(spec, SkipStepFault):
            # A skipped step hands its input on unchanged, like a graph node that did nothing.
            prelude.skip, prelude.skipped_result = True, args[0] if args else None
            run.corrupted(firing)
    return prelude


def _wipe(
    run: CallSite, firing: Firing, prelude: Prelude, fn: Callable[..., Any], owner: object
) -> None:
    # A callable object agent is its own owner: its memory lives on it.
    itself = None if inspect.isroutine(fn) else fn
    candidates = [c for c in (owner, getattr(fn, "__self__", None), itself) if c is not None]
    if prelude.args and not isinstance(prelude.args[0], dict):
        candidates.append(prelude.args[0])
    wiped = wipe_memory(candidates)
    if wiped is None and prelude.args and isinstance(prelude.args[0], dict):
        # A function agent's memory is the state it is handed: it sees an empty one.
        prelude.args = ({}, *prelude.args[1:])
        wiped = "state argument"
    if wiped is None:
        firing.detail["not_applicable"] = "the agent exposes no memory to wipe"
        return
    firing.detail["wiped"] = wiped
    run.corrupted(firing)


def apply_after(run: CallSite, plan: list[Firing], result: Any) -> Any:
    """Apply the firings that act on the call's result (it has run, effects happened)."""
    for firing in plan:
        spec = firing.spec
        if spec.acts_after_call:
            run.acted(firing)  # stamped now: the call has run, this is when the fault acts
        if isinstance(spec, CrashFault) and spec.when == "after":
            raise crash_error_type(spec.error)(
                f"chaos: agent {firing.target!r} crashed after call {firing.call_number} ran",
                agent=firing.target,
                fault_id=firing.fault_id,
            )
        if isinstance(spec, HallucinationFault):
            changed = hallucinate(result, run.rng(firing), spec.field, spec.value)
        elif isinstance(spec, TokenLimitFault):
            changed = truncate(result, spec.keep)
            if changed is None:
                raise TokenLimitExceeded(
                    f"chaos: agent {firing.target!r} hit the token limit with no text to keep",
                    agent=firing.target,
                    fault_id=firing.fault_id,
                )
        else:
            continue
        if changed is None:
            firing.detail["not_applicable"] = f"no field to corrupt in {type(result).__name__}"
            continue
        result, firing.corruption = changed
        firing.detail["field"] = firing.corruption.path
        run.corrupted(firing)
    return result
