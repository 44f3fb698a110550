"""Product listing: writes each product's title, description and keywords."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import InvariantViolation
from ecommerce_swarm.llm import JSONObject
from ecommerce_swarm.models import Listing, Product


class ListingAgent(Agent):
    name = "listing"
    task = "write_listing"
    input_model = Product
    output_model = Listing

    def prompt(self, item: Product) -> tuple[str, JSONObject]:
        return "listing", {**item.model_dump(mode="json"), "complexity": self.complexity}

    def check(self, output: Listing, item: Product) -> None:
        if output.sku != item.sku or item.name not in output.title:
            raise InvariantViolation(
                "listing_product", f"{item.sku}: listing {output.sku} titled {output.title!r}"
            )
        # Copy cut off mid-sentence is what a model that ran out of tokens hands back.
        if not output.description.endswith("."):
            raise InvariantViolation(
                "listing_truncated", f"{item.sku}: description ends {output.description[-20:]!r}"
            )
