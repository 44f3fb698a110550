"""Feedback listener: collects customer reviews for each listed product."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import InvariantViolation
from ecommerce_swarm.models import FeedbackRequest, ReviewBatch


class FeedbackAgent(Agent):
    name = "feedback"
    task = "collect_reviews"
    input_model = FeedbackRequest
    output_model = ReviewBatch

    def produce(self, item: FeedbackRequest) -> ReviewBatch:
        answer = self.ask("feedback", {"sku": item.listing.sku, "count": item.wanted})
        reviews = [{**review, "sku": item.listing.sku} for review in answer.get("reviews", [])]
        return ReviewBatch.model_validate({"sku": answer.get("sku"), "reviews": reviews})

    def check(self, output: ReviewBatch, item: FeedbackRequest) -> None:
        if output.sku != item.listing.sku or len(output.reviews) != item.wanted:
            raise InvariantViolation(
                "reviews_count",
                f"{item.listing.sku}: {len(output.reviews)} reviews for {output.sku}, "
                f"{item.wanted} wanted",
            )
