"""pytest-agentchaos: chaos testing for LLM agents and multi-agent systems.

The public API is what ``__all__`` lists; every other module may change.
"""

from __future__ import annotations

from .controller import ChaosController, Event
from .errors import (
    AgentChaosError,
    AgentCrashed,
    AgentHung,
    AgentLooping,
    AgentRefused,
    ChaosConfigError,
    InjectedFault,
    RecoveryFailed,
    StoreError,
    TokenLimitExceeded,
)
from .faults import FAULT_KINDS, FaultSpec, parse_fault
from .hookspecs import hookimpl
from .injection import Patch, agent, current_run, wrap
from .outcomes import FaultResult, Outcome
from .run import ChaosRun, Failure, Recovery, RunSettings

__version__ = "0.1.0"

__all__ = [
    "FAULT_KINDS",
    "AgentChaosError",
    "AgentCrashed",
    "AgentHung",
    "AgentLooping",
    "AgentRefused",
    "ChaosConfigError",
    "ChaosController",
    "ChaosRun",
    "Event",
    "Failure",
    "FaultResult",
    "FaultSpec",
    "InjectedFault",
    "Outcome",
    "Patch",
    "Recovery",
    "RecoveryFailed",
    "RunSettings",
    "StoreError",
    "TokenLimitExceeded",
    "__version__",
    "agent",
    "current_run",
    "hookimpl",
    "parse_fault",
    "wrap",
]
