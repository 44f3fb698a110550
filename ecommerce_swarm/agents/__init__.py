"""The six agents, each a LangGraph graph behind a bus handler (see ``base``)."""

from __future__ import annotations

from ecommerce_swarm.agents.analytics import AnalyticsAgent
from ecommerce_swarm.agents.base import Agent, TaskRejected
from ecommerce_swarm.agents.feedback import FeedbackAgent
from ecommerce_swarm.agents.inventory import InventoryAgent
from ecommerce_swarm.agents.listing import ListingAgent
from ecommerce_swarm.agents.marketing import MarketingAgent
from ecommerce_swarm.agents.pricing import PricingAgent

#: name -> agent class, in workflow order.
AGENT_TYPES: dict[str, type[Agent]] = {
    cls.name: cls
    for cls in (
        ListingAgent,
        PricingAgent,
        InventoryAgent,
        MarketingAgent,
        FeedbackAgent,
        AnalyticsAgent,
    )
}

__all__ = ["AGENT_TYPES", "Agent", "InventoryAgent", "TaskRejected"]
