"""Business invariants, checked where a real team would check them.

Each check raises :class:`InvariantViolation` naming the product, the rule and the values, so
corrupted data is stopped (and the failure surfaces) instead of being published.
"""

from __future__ import annotations

from collections.abc import Mapping

from ecommerce_swarm.models import Campaign, Price, Product, Report, StockRecord
from ecommerce_swarm.ontology import category


class InvariantViolation(ValueError):
    """A business rule is broken; ``rule`` names it."""

    def __init__(self, rule: str, text: str) -> None:
        super().__init__(f"{rule}: {text}")
        self.rule = rule


def check_price(price: Price, product: Product) -> None:
    """Within the category's bounds, above cost, and the quoted cost and markup add up."""
    bounds = category(product.category)
    if price.sku != product.sku:
        raise InvariantViolation("price_sku", f"price for {price.sku}, product is {product.sku}")
    if price.cost != product.cost:
        raise InvariantViolation(
            "price_cost", f"{product.sku}: quoted cost {price.cost}, product cost {product.cost}"
        )
    if not bounds.min_price <= price.price <= bounds.max_price:
        raise InvariantViolation(
            "price_bounds",
            f"{product.sku}: {price.price} outside {bounds.name} bounds "
            f"[{bounds.min_price}, {bounds.max_price}]",
        )
    if price.price <= product.cost:
        raise InvariantViolation(
            "price_above_cost", f"{product.sku}: {price.price} not above cost {product.cost}"
        )
    if abs(price.price - round(price.cost * price.markup, 2)) > 0.005:
        raise InvariantViolation(
            "price_markup",
            f"{product.sku}: {price.price} is not cost {price.cost} x markup {price.markup}",
        )


def check_stock(record: StockRecord) -> None:
    """Stock never negative, and what is available is what is on hand minus reservations."""
    if record.on_hand < 0 or record.available < 0:
        raise InvariantViolation(
            "stock_negative",
            f"{record.sku}: on hand {record.on_hand}, available {record.available}",
        )
    if record.available != record.on_hand - record.reserved:
        raise InvariantViolation(
            "stock_balance",
            f"{record.sku}: available {record.available} != on hand {record.on_hand} - "
            f"reserved {record.reserved}",
        )


def check_campaign(campaign: Campaign, price: Price, title: str) -> None:
    """A campaign advertises exactly the listed price, for the listed product."""
    if campaign.sku != price.sku:
        raise InvariantViolation(
            "campaign_sku", f"campaign for {campaign.sku}, price for {price.sku}"
        )
    if campaign.advertised_price != price.price:
        raise InvariantViolation(
            "campaign_price",
            f"{campaign.sku}: advertises {campaign.advertised_price}, listed {price.price}",
        )
    if title not in campaign.headline or f"{price.price:.2f}" not in campaign.body:
        raise InvariantViolation(
            "campaign_copy", f"{campaign.sku}: copy does not name {title!r} at {price.price:.2f}"
        )


def check_report(report: Report, prices: Mapping[str, Price]) -> None:
    """A report's totals are the sums of its lines, and each line uses the listed price."""
    for line in report.lines:
        listed = prices.get(line.sku)
        if listed is None or line.price != listed.price:
            raise InvariantViolation(
                "report_price", f"{line.sku}: report says {line.price}, listed {listed}"
            )
        if abs(line.stock_value - round(line.price * line.units_available, 2)) > 0.005:
            raise InvariantViolation("report_line", f"{line.sku}: value {line.stock_value}")
    units = sum(line.units_available for line in report.lines)
    value = round(sum(line.stock_value for line in report.lines), 2)
    if report.total_units != units or abs(report.total_stock_value - value) > 0.005:
        raise InvariantViolation(
            "report_totals",
            f"totals {report.total_units} units / {report.total_stock_value} != sum of lines "
            f"{units} units / {value}",
        )
