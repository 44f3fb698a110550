"""Marketing outreach: campaign copy from the listing, the price and the stock left. A product
with nothing available gets a paused campaign, never an ad for stock that is not there."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import check_campaign
from ecommerce_swarm.models import Campaign, MarketingBrief


class MarketingAgent(Agent):
    name = "marketing"
    task = "write_campaign"
    input_model = MarketingBrief
    output_model = Campaign

    def produce(self, item: MarketingBrief) -> Campaign:
        inputs = {
            "sku": item.listing.sku,
            "title": item.listing.title,
            "description": item.listing.description,
            "price": item.price.price,
        }
        answer = self.ask("marketing", inputs)
        return Campaign.model_validate({**answer, "active": item.stock.available > 0})

    def check(self, output: Campaign, item: MarketingBrief) -> None:
        check_campaign(output, item.price, item.listing.title)
