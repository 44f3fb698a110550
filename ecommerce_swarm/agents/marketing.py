"""Marketing outreach: campaign copy from the listing, the price and the stock left. A product
with nothing available gets a paused campaign, never an ad for stock that is not there."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import check_campaign
from ecommerce_swarm.llm import JSONObject
from ecommerce_swarm.models import Campaign, MarketingBrief


class MarketingAgent(Agent):
    name = "marketing"
    task = "write_campaign"
    input_model = MarketingBrief
    output_model = Campaign

    def prompt(self, item: MarketingBrief) -> tuple[str, JSONObject]:
        listing = item.listing
        return "marketing", {
            "sku": listing.sku,
            "title": listing.title,
            "description": listing.description,
            "price": item.price.price,
        }

    def parse(self, answer: JSONObject, item: MarketingBrief) -> Campaign:
        # Whether a campaign runs is inventory's call, never the model's.
        return Campaign.model_validate({**answer, "active": item.stock.available > 0})

    def check(self, output: Campaign, item: MarketingBrief) -> None:
        check_campaign(output, item.price, item.listing.title)
