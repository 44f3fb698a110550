"""Fault models: one frozen pydantic model per fault kind, and their validation.

A fault model is a *specification*: which calls it selects (``target``, ``at_call``,
``probability``, ``times``) and what it does when it fires. Each firing is recorded separately,
with its own timestamps and outcome (see :mod:`pytest_agentchaos.model.outcomes`).
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import importlib
import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pytest_agentchaos.errors import AgentCrashed, ChaosConfigError
from pytest_agentchaos.model.kinds import FAULT_KINDS, KINDS, Effect, Site, kinds_acting_on


class Layer(StrEnum):
    """Where a fault acts."""

    AGENT = "agent"
    LLM = "llm"
    MESSAGE = "message"
    WORKFLOW = "workflow"


Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]


class FaultSpec(BaseModel):
    """Fields every fault kind shares."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    kind: str
    # Read from the kind's declaration in model.kinds, never written per class.
    layer: ClassVar[Layer] = Layer.AGENT
    effect: ClassVar[Effect] = Effect.FAILURE
    sites: ClassVar[frozenset[Site]] = frozenset()

    target: str = "*"
    at_call: tuple[Annotated[int, Field(ge=1)], ...] | None = None
    probability: Probability = 1.0
    times: Annotated[int, Field(ge=1)] | None = None

    @field_validator("at_call", mode="before")
    @classmethod
    def _one_or_many_calls(cls, value: object) -> object:
        # Users write at_call=1 far more often than at_call=[1]; accept both.
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)
        if isinstance(value, list):
            return tuple(value)
        return value

    @field_validator("target")
    @classmethod
    def _non_empty_target(cls, value: str) -> str:
        if not value:
            raise ValueError("must name an agent or be a glob such as '*'")
        return value

    def matches(self, name: str) -> bool:
        """Whether this fault selects the agent (or client) called ``name``."""
        return self.target == "*" or self.target == name or fnmatch.fnmatchcase(name, self.target)

    @property
    def acts_after_call(self) -> bool:
        """Whether the fault acts on a call's result, once the call ran (it is stamped then)."""
        return False

    def params(self) -> dict[str, Any]:
        """The arguments that differ from the defaults, for the store and the report."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude={"kind"})


class CrashFault(FaultSpec):
    kind: Literal["crash"] = "crash"
    when: Literal["before", "after"] = "before"
    # The class raised, because a caller's own retry decides by type (LangGraph's RetryPolicy
    # retries ConnectionError by default, and no ValueError): a builtin name or a dotted path.
    error: str | None = None

    @field_validator("error")
    @classmethod
    def _exception_class(cls, value: str | None) -> str | None:
        if value is not None:
            crash_error_type(value)
        return value

    @property
    def acts_after_call(self) -> bool:
        return self.when == "after"


class HangFault(FaultSpec):
    kind: Literal["hang"] = "hang"
    seconds: Seconds | None = None


class DelayFault(FaultSpec):
    kind: Literal["delay"] = "delay"
    seconds: Seconds = 0.1


class MemoryWipeFault(FaultSpec):
    kind: Literal["memory_wipe"] = "memory_wipe"


class HallucinationFault(FaultSpec):
    kind: Literal["hallucination"] = "hallucination"
    field: str | None = None
    value: Any = None

    @property
    def acts_after_call(self) -> bool:
        return True


class RefusalFault(FaultSpec):
    kind: Literal["refusal"] = "refusal"
    message: str = "I'm sorry, but I can't help with that."


class TokenLimitFault(FaultSpec):
    kind: Literal["token_limit"] = "token_limit"
    keep: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.5

    @property
    def acts_after_call(self) -> bool:
        return True


class ApiErrorFault(FaultSpec):
    kind: Literal["api_error"] = "api_error"
    error: Literal[
        "timeout", "connection_reset", "rate_limit", "server_error", "malformed_json"
    ] = "server_error"
    status: Annotated[int, Field(ge=400, le=599)] | None = None
    retry_after: Seconds | None = None


class MessageFault(FaultSpec):
    """Message faults select deliveries by ``sender``, ``receiver`` and message ``type``."""

    sender: str = "*"
    receiver: str = "*"
    message_type: str | None = None

    @field_validator("message_type")
    @classmethod
    def _known_message_type(cls, value: str | None) -> str | None:
        from pytest_agentchaos.model.protocol import MessageType

        if value is not None and value not in MessageType.__members__:
            raise ValueError(
                f"must be a protocol message type: {', '.join(MessageType.__members__)}"
            )
        return value

    def matches_message(self, sender: str, receiver: str, message_type: str | None) -> bool:
        """Whether this fault selects a delivery from ``sender`` to ``receiver``."""
        return (
            _glob(self.sender, sender)
            and _glob(self.receiver, receiver)
            and (self.message_type is None or self.message_type == message_type)
        )


class MessageDropFault(MessageFault):
    kind: Literal["message_drop"] = "message_drop"


class MessageDelayFault(MessageFault):
    kind: Literal["message_delay"] = "message_delay"
    seconds: Seconds = 0.1


class MessageCorruptFault(MessageFault):
    kind: Literal["message_corrupt"] = "message_corrupt"
    field: str | None = None


class MessageDuplicateFault(MessageFault):
    kind: Literal["message_duplicate"] = "message_duplicate"
    copies: Annotated[int, Field(ge=1)] = 1


class MessageReorderFault(MessageFault):
    kind: Literal["message_reorder"] = "message_reorder"


class PartitionFault(MessageFault):
    kind: Literal["partition"] = "partition"
    duration: Seconds = 0.5


class WrongHandoffFault(MessageFault):
    kind: Literal["wrong_handoff"] = "wrong_handoff"
    to: str | None = None


class SkipStepFault(FaultSpec):
    kind: Literal["skip_step"] = "skip_step"


class InfiniteLoopFault(FaultSpec):
    kind: Literal["infinite_loop"] = "infinite_loop"
    seconds: Seconds | None = None


FAULT_MODELS: dict[str, type[FaultSpec]] = {
    model.model_fields["kind"].default: model
    for model in (
        CrashFault,
        HangFault,
        DelayFault,
        MemoryWipeFault,
        HallucinationFault,
        RefusalFault,
        TokenLimitFault,
        ApiErrorFault,
        MessageDropFault,
        MessageDelayFault,
        MessageCorruptFault,
        MessageDuplicateFault,
        MessageReorderFault,
        PartitionFault,
        WrongHandoffFault,
        SkipStepFault,
        InfiniteLoopFault,
    )
}
for _kind, _model in FAULT_MODELS.items():
    _info = KINDS[_kind]
    _model.layer, _model.effect, _model.sites = Layer(_info.layer), _info.effect, _info.sites
if tuple(FAULT_MODELS) != FAULT_KINDS:  # pragma: no cover - a model without a declaration
    raise AssertionError("model.kinds.KINDS and FAULT_MODELS disagree")

#: Kinds that act on a wrapped agent call (the others act on the bus or the HTTP transport).
AGENT_CALL_KINDS = kinds_acting_on(Site.AGENT_CALL)

#: Kinds that only make something late (a disturbance measured in ``seconds``): once over,
#: nothing of them is left to notice, so only ``detected(kind=...)`` marks them.
DELAY_KINDS = frozenset(
    kind
    for kind, model in FAULT_MODELS.items()
    if model.effect is Effect.DISTURBANCE and "seconds" in model.model_fields
)


@functools.cache
def crash_error_type(name: str | None) -> type[AgentCrashed]:
    """The class a ``crash`` raises: ``AgentCrashed``, or a subclass of it and of ``name``.

    Still an :class:`AgentCrashed` (so the run knows it injected it), and an instance of the
    chosen class (so the system's own ``except`` and retry rules see that type).
    """
    if name is None:
        return AgentCrashed
    chosen = _exception_class(name)
    try:
        return type(f"Injected{chosen.__name__}", (AgentCrashed, chosen), {})
    except TypeError as error:
        raise ValueError(f"{name!r} cannot be raised as an injected crash ({error})") from None


def _exception_class(name: str) -> type[BaseException]:
    module_name, _, attribute = name.rpartition(".")
    try:
        owner = importlib.import_module(module_name or "builtins")
    except ImportError:
        owner = None
    found = getattr(owner, attribute, None) if attribute.isidentifier() else None
    if not (isinstance(found, type) and issubclass(found, Exception)):
        raise ValueError(f"{name!r} is not an exception class (a builtin or a dotted path)")
    return found


def _glob(pattern: str, name: str) -> bool:
    return pattern == "*" or pattern == name or fnmatch.fnmatchcase(name, pattern)


def parse_fault(kind: str, arguments: Mapping[str, Any]) -> FaultSpec:
    """Build the fault model for ``kind`` from marker or scenario arguments.

    Raises :class:`ChaosConfigError` naming the bad argument, its value and what is allowed.
    """
    model = FAULT_MODELS.get(kind)
    if model is None:
        raise ChaosConfigError(
            f"unknown fault kind {kind!r}{_did_you_mean(kind, FAULT_KINDS)}; "
            f"known kinds: {', '.join(FAULT_KINDS)}"
        )
    allowed = [name for name in model.model_fields if name != "kind"]
    for name in arguments:
        if name not in allowed:
            raise ChaosConfigError(
                f"{kind}: unknown argument {name!r}{_did_you_mean(name, allowed)}; "
                f"allowed arguments: {', '.join(allowed)}"
            )
    _check_workable(kind, arguments)
    try:
        return model(**arguments)
    except ValidationError as error:
        raise ChaosConfigError(f"{kind}: {_explain(error, arguments)}") from None


#: Arguments that select agents or messages by name or glob.
GLOB_ARGUMENTS = ("target", "sender", "receiver")


def _check_workable(kind: str, arguments: Mapping[str, Any]) -> None:
    """What a model's types let through but would fail at run time: an infinite or NaN number
    (``seconds=float("inf")`` overflows the first wait), a glob that can never match as
    written (``"pric["``)."""
    for name, value in arguments.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ChaosConfigError(f"{kind}: argument {name}={value!r}: must be a finite number")
        if name in GLOB_ARGUMENTS and isinstance(value, str):
            check_glob(value, f"{kind}: argument {name}")


def check_glob(pattern: str, source: str) -> None:
    """A ``[`` opens a character set in a glob: one that is never closed matches only a
    literal ``[``, which is never what was meant."""
    index = 0
    while index < len(pattern):
        if pattern[index] != "[":
            index += 1
            continue
        end = index + 1
        if end < len(pattern) and pattern[end] == "!":
            end += 1
        if end < len(pattern) and pattern[end] == "]":
            end += 1  # fnmatch: a "]" right after "[" (or "[!") belongs to the set
        end = pattern.find("]", end)
        if end == -1:
            raise ChaosConfigError(
                f"{source}={pattern!r}: not a valid glob: the '[' at position {index} is never "
                "closed; write '[[]' for a literal '['"
            )
        index = end + 1


#: What each shared or kind-specific argument accepts, for error messages.
_ALLOWED = {
    "target": "an agent name or a glob such as 'pric*' or '*'",
    "sender": "an agent name or a glob",
    "receiver": "an agent name or a glob",
    "at_call": "a call number >= 1, or a list of them",
    "probability": "a number from 0 to 1",
    "times": "a whole number >= 1",
    "seconds": "a number of seconds >= 0",
    "duration": "a number of seconds >= 0",
    "retry_after": "a number of seconds >= 0",
    "keep": "a fraction of the output to keep, between 0 and 1 (exclusive)",
    "status": "an HTTP status from 400 to 599",
    "copies": "a whole number >= 1",
    "error": "an exception class: a builtin name such as 'ConnectionError' or a dotted path "
    "such as 'httpx.ConnectError'",
}


def _explain(error: ValidationError, arguments: Mapping[str, Any]) -> str:
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "?"
        value = arguments.get(name, item.get("input"))
        allowed = _ALLOWED.get(name)
        rule = (
            f"must be {allowed}" if allowed and item["type"] != "literal_error" else _allowed(item)
        )
        problems.append(f"argument {name}={value!r}: {rule}")
    return "; ".join(problems)


def _allowed(item: Any) -> str:
    ctx = item.get("ctx") or {}
    kind = item["type"]
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    bounds = {
        "greater_than_equal": f"must be >= {ctx.get('ge')}",
        "greater_than": f"must be > {ctx.get('gt')}",
        "less_than_equal": f"must be <= {ctx.get('le')}",
        "less_than": f"must be < {ctx.get('lt')}",
    }
    if kind in bounds:
        return bounds[kind]
    return str(item["msg"]).replace("Value error, ", "")


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
