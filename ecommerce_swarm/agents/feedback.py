"""Feedback listener: collects customer reviews for each listed product."""

from __future__ import annotations

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import InvariantViolation
from ecommerce_swarm.llm import JSONObject
from ecommerce_swarm.models import FeedbackRequest, ReviewBatch


class FeedbackAgent(Agent):
    name = "feedback"
    task = "collect_reviews"
    input_model = FeedbackRequest
    output_model = ReviewBatch

    def prompt(self, item: FeedbackRequest) -> tuple[str, JSONObject]:
        return "feedback", {"sku": item.listing.sku, "count": item.wanted}

    def parse(self, answer: JSONObject, item: FeedbackRequest) -> ReviewBatch:
        reviews = answer.get("reviews")
        if not isinstance(reviews, list) or not all(isinstance(r, dict) for r in reviews):
            raise ValueError(f"reviews must be a list of objects, got {reviews!r}")
        with_sku = [{**review, "sku": item.listing.sku} for review in reviews]
        return ReviewBatch.model_validate({"sku": answer.get("sku"), "reviews": with_sku})

    def check(self, output: ReviewBatch, item: FeedbackRequest) -> None:
        if output.sku != item.listing.sku or len(output.reviews) != item.wanted:
            raise InvariantViolation(
                "reviews_count",
                f"{item.listing.sku}: {len(output.reviews)} reviews for {output.sku}, "
                f"{item.wanted} wanted",
            )
