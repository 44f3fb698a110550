"""pytest-agentchaos: chaos testing for LLM agents and multi-agent systems.

The public API is what ``__all__`` lists; every other module may change. The engine
(``engine.run.ChaosRun``, ``config.settings.RunSettings``, ``engine.injection.current_run``)
is importable from its modules but is not part of it: strategies see a :class:`Failure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_agentchaos.engine.controller import ChaosController, Event
from pytest_agentchaos.engine.hookspecs import hookimpl
from pytest_agentchaos.engine.injection import Patch, agent, wrap
from pytest_agentchaos.engine.recovery import Failure, Recovery
from pytest_agentchaos.errors import (
    AgentChaosError,
    AgentCrashed,
    AgentHung,
    AgentLooping,
    AgentRefused,
    CassetteMismatchError,
    ChaosConfigError,
    InjectedFault,
    MissingExtraError,
    RecoveryFailed,
    StoreError,
    TokenLimitExceeded,
)
from pytest_agentchaos.model.faults import FaultSpec, parse_fault
from pytest_agentchaos.model.kinds import FAULT_KINDS
from pytest_agentchaos.model.outcomes import FaultResult, Outcome

if TYPE_CHECKING:  # the lazily loaded names, for type checkers
    from pytest_agentchaos.bus.message_bus import (
        BusError,
        DeliveryError,
        DeliveryTimeout,
        MessageBus,
    )
    from pytest_agentchaos.model.protocol import (
        ContractViolation,
        Message,
        MessageType,
        validate_message,
    )

__version__ = "0.1.0"

#: Public names whose modules load on first use, so ``import pytest_agentchaos`` stays cheap.
_LAZY = {
    "MessageBus": "bus",
    "BusError": "bus",
    "DeliveryError": "bus",
    "DeliveryTimeout": "bus",
    "Message": "protocol",
    "MessageType": "protocol",
    "ContractViolation": "protocol",
    "validate_message": "protocol",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_agentchaos' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "FAULT_KINDS",
    "AgentChaosError",
    "AgentCrashed",
    "AgentHung",
    "AgentLooping",
    "AgentRefused",
    "BusError",
    "CassetteMismatchError",
    "ChaosConfigError",
    "ChaosController",
    "ContractViolation",
    "DeliveryError",
    "DeliveryTimeout",
    "Event",
    "Failure",
    "FaultResult",
    "FaultSpec",
    "InjectedFault",
    "Message",
    "MissingExtraError",
    "MessageBus",
    "MessageType",
    "Outcome",
    "Patch",
    "Recovery",
    "RecoveryFailed",
    "StoreError",
    "TokenLimitExceeded",
    "__version__",
    "agent",
    "hookimpl",
    "parse_fault",
    "validate_message",
    "wrap",
]
