"""Every fault kind, where it acts and how it shows itself: plain data, cheap to import.

This table is the one declaration of the fault library. The pydantic fault models
(:mod:`pytest_agentchaos.model.faults`) read their ``sites`` and ``effect`` from it, and each
layer derives the kinds it handles from it (:func:`kinds_acting_on`), so no layer keeps a
hand-written list. The plugin reads it at start-up to register markers without building the
models (importing pydantic costs more than the rest of the plugin).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "FAULT_KINDS",
    "KINDS",
    "Effect",
    "KindInfo",
    "Site",
    "kinds_acting_on",
]


class Site(StrEnum):
    """Where a fault can act."""

    AGENT_CALL = "agent_call"  # a call of an agent() / wrap() callable
    MESSAGE = "message"  # a delivery on the message bus
    LLM_EXCHANGE = "llm_exchange"  # a request of an OpenAI SDK client, at its HTTP transport
    GRAPH_NODE = "graph_node"  # a node (or router) of an instrumented LangGraph graph


class Effect(StrEnum):
    """How a firing shows itself, which decides its outcome when nothing detects it.

    A ``failure`` raises at once; a ``corruption`` hands on a wrong value and is ``silent``
    unless detected; a ``disturbance`` (delay, duplicate, drop) is ``tolerated`` unless
    something surfaces.
    """

    FAILURE = "failure"
    CORRUPTION = "corruption"
    DISTURBANCE = "disturbance"


class KindInfo:
    """One fault kind: its library layer (DESIGN's table), the sites it acts on, its effect."""

    __slots__ = ("effect", "layer", "sites")

    def __init__(self, layer: str, sites: frozenset[Site], effect: Effect) -> None:
        self.layer, self.sites, self.effect = layer, sites, effect


_CALL = frozenset({Site.AGENT_CALL, Site.GRAPH_NODE})
_CALL_AND_LLM = frozenset({Site.AGENT_CALL, Site.GRAPH_NODE, Site.LLM_EXCHANGE})
_MESSAGE = frozenset({Site.MESSAGE})

#: kind -> declaration, in DESIGN's order (marker registration and error messages use it).
KINDS: dict[str, KindInfo] = {
    "crash": KindInfo("agent", _CALL, Effect.FAILURE),
    "hang": KindInfo("agent", _CALL, Effect.FAILURE),
    "delay": KindInfo("agent", _CALL_AND_LLM, Effect.DISTURBANCE),
    "memory_wipe": KindInfo("agent", _CALL, Effect.CORRUPTION),
    "hallucination": KindInfo("llm", _CALL_AND_LLM, Effect.CORRUPTION),
    "refusal": KindInfo("llm", _CALL_AND_LLM, Effect.FAILURE),
    "token_limit": KindInfo("llm", _CALL_AND_LLM, Effect.CORRUPTION),
    "api_error": KindInfo("llm", frozenset({Site.LLM_EXCHANGE}), Effect.FAILURE),
    "message_drop": KindInfo("message", _MESSAGE, Effect.DISTURBANCE),
    "message_delay": KindInfo("message", _MESSAGE, Effect.DISTURBANCE),
    "message_corrupt": KindInfo("message", _MESSAGE, Effect.CORRUPTION),
    "message_duplicate": KindInfo("message", _MESSAGE, Effect.DISTURBANCE),
    "message_reorder": KindInfo("message", _MESSAGE, Effect.DISTURBANCE),
    "partition": KindInfo("message", _MESSAGE, Effect.DISTURBANCE),
    "wrong_handoff": KindInfo(
        "workflow", frozenset({Site.MESSAGE, Site.GRAPH_NODE}), Effect.DISTURBANCE
    ),
    "skip_step": KindInfo("workflow", _CALL, Effect.CORRUPTION),
    "infinite_loop": KindInfo("workflow", _CALL, Effect.FAILURE),
}

FAULT_KINDS: tuple[str, ...] = tuple(KINDS)


def kinds_acting_on(site: Site) -> frozenset[str]:
    """The kinds that act at ``site``: what a layer (the bus, the OpenAI transport) arms."""
    return frozenset(kind for kind, info in KINDS.items() if site in info.sites)
