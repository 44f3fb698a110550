"""OpenAI SDK chaos: LLM faults at the ``httpx2`` transport, so the SDK's own retries run.

Public path: ``pytest_agentchaos.integrations.openai``. The modules inside are private.
"""

from pytest_agentchaos.integrations.openai.client import (
    DEFAULT_RETRY_AFTER_S,
    LLM_FAULT_KINDS,
    ChaosTransport,
    chaos_client,
    instrument,
    uninstrument,
)

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "LLM_FAULT_KINDS",
    "ChaosTransport",
    "chaos_client",
    "instrument",
    "uninstrument",
]
