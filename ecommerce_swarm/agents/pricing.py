"""Pricing optimizer: a launch price per product, within its category's bounds and above cost."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import check_price
from ecommerce_swarm.llm import JSONObject
from ecommerce_swarm.models import Price, Product


class PricingAgent(Agent):
    name = "pricing"
    task = "quote_price"
    input_model = Product
    output_model = Price

    def prompt(self, item: Product) -> tuple[str, JSONObject]:
        return "pricing", {"sku": item.sku, "cost": item.cost, "category": item.category}

    def check(self, output: Price, item: Product) -> None:
        check_price(output, item)
