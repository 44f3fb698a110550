"""pytest-agentchaos: chaos testing for LLM agents and multi-agent systems.

The public API is what ``__all__`` lists; every other module may change. The engine
(``engine.run.ChaosRun``, ``config.settings.RunSettings``, ``engine.injection.current_run``)
is importable from its modules but is not part of it: strategies see a :class:`Failure`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # every public name loads on first use; these imports are for type checkers
    from pytest_agentchaos.bus.message_bus import (
        BusError,
        DeliveryError,
        DeliveryTimeout,
        MessageBus,
    )
    from pytest_agentchaos.engine.controller import ChaosController, Event
    from pytest_agentchaos.engine.hookspecs import hookimpl
    from pytest_agentchaos.engine.injection import Patch, agent, wrap
    from pytest_agentchaos.engine.notes import detected, record_event
    from pytest_agentchaos.engine.recovery import Failure, Recovery
    from pytest_agentchaos.model.faults import FaultSpec, parse_fault
    from pytest_agentchaos.model.outcomes import FaultResult, Outcome
    from pytest_agentchaos.model.protocol import (
        ContractViolation,
        Message,
        MessageType,
        validate_message,
    )

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
from pytest_agentchaos.model.kinds import FAULT_KINDS

__version__ = "0.1.0"

#: Public names whose modules load on first use, so ``import pytest_agentchaos`` (and with
#: it every pytest start-up, through the plugin) loads neither pydantic nor the engine.
_LAZY = {
    "ChaosController": "engine.controller",
    "Event": "engine.controller",
    "hookimpl": "engine.hookspecs",
    "Patch": "engine.injection",
    "agent": "engine.injection",
    "wrap": "engine.injection",
    "detected": "engine.notes",
    "record_event": "engine.notes",
    "Failure": "engine.recovery",
    "Recovery": "engine.recovery",
    "FaultSpec": "model.faults",
    "parse_fault": "model.faults",
    "FaultResult": "model.outcomes",
    "Outcome": "model.outcomes",
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

    # Not cached in globals(): pytester's in-process runs drop modules first imported inside
    # them, and a cached name would then belong to a stale copy of its module.
    return getattr(import_module(f".{module}", __name__), name)


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
    "detected",
    "hookimpl",
    "parse_fault",
    "record_event",
    "validate_message",
    "wrap",
]
