"""Analytics reporter: one report over every product, whose totals must equal its lines."""

from __future__ import annotations

from collections.abc import Sequence

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import check_report
from ecommerce_swarm.models import AnalyticsInput, ProductLine, Report


class AnalyticsAgent(Agent):
    name = "analytics"
    task = "report"
    input_model = AnalyticsInput
    output_model = Report

    def produce_all(self, items: Sequence[AnalyticsInput]) -> list[Report]:  # type: ignore[override]
        lines = tuple(_line(item) for item in items)
        units = sum(line.units_available for line in lines)
        value = round(sum(line.stock_value for line in lines), 2)
        summary = self.ask("summary", {"products": len(lines), "units": units, "value": value})
        return [
            Report(
                lines=lines,
                total_stock_value=value,
                total_units=units,
                summary=str(summary.get("summary", "")),
            )
        ]

    def check_all(self, outputs: Sequence[Report], items: Sequence[AnalyticsInput]) -> None:
        [report] = outputs
        check_report(report, {item.price.sku: item.price for item in items})


def _line(item: AnalyticsInput) -> ProductLine:
    ratings = [review.rating for review in item.reviews]
    return ProductLine(
        sku=item.price.sku,
        units_available=item.stock.available,
        price=item.price.price,
        stock_value=round(item.price.price * item.stock.available, 2),
        average_rating=round(sum(ratings) / len(ratings), 2) if ratings else None,
    )
