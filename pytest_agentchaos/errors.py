"""One exception root for everything pytest-agentchaos raises.

Injected failures subclass :class:`InjectedFault` so a system under test can tell a chaos
failure from a bug of its own only if it chooses to look; most systems should not care.
"""

from __future__ import annotations


class AgentChaosError(Exception):
    """Root of every exception raised by pytest-agentchaos."""


class ChaosConfigError(AgentChaosError, ValueError):
    """A marker argument, option, scenario or setting has a bad value."""


class StoreError(AgentChaosError):
    """The event store cannot be opened or written (corrupt file, newer schema)."""


class MissingExtraError(AgentChaosError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        super().__init__(
            f"{feature} needs {module}, which is not installed: "
            f"pip install 'pytest-agentchaos[{extra}]'"
        )


class InjectedFault(AgentChaosError):
    """Base of the failures that a fault injects into an agent call."""

    def __init__(self, message: str, *, agent: str, fault_id: str | None = None) -> None:
        super().__init__(message)
        self.agent = agent
        self.fault_id = fault_id


class AgentCrashed(InjectedFault):
    """The agent died during a call (``crash``)."""


class AgentHung(InjectedFault, TimeoutError):
    """The agent stopped answering until the deadline passed (``hang``)."""


class AgentLooping(InjectedFault, TimeoutError):
    """The agent repeated its step without progress until the deadline (``infinite_loop``)."""


class AgentRefused(InjectedFault):
    """The agent's model refused to answer (``refusal``)."""


class TokenLimitExceeded(InjectedFault):
    """The output was cut at the token limit and nothing of it could be kept (``token_limit``)."""


class RecoveryFailed(AgentChaosError):
    """A strategy gave up on a failure; the original failure is its ``__cause__``."""


class CassetteMismatchError(AgentChaosError):
    """A request that the LLM cassette has no answer for, in a record mode that may not record it.

    Not an ``httpx2`` error, so the OpenAI SDK neither retries nor wraps it.
    """


def describe_error(error: BaseException) -> str:
    """``Type: message`` (or just ``Type``), as events record an exception."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
