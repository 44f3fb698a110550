"""A small product-launch pipeline: four agents and a coordinator, in plain Python.

The agents stand in for LLM-backed workers; each is marked with ``pytest_agentchaos.agent``, which
does nothing unless a chaos run is active (``pytest --chaos``).

    listing   -> writes the product listing (title, description)
    pricing   -> quotes the launch price
    inventory -> reserves stock in the warehouse (a side effect: must never happen twice)
    marketing -> writes the campaign, after checking the quoted price against the catalog

``launch()`` is the coordinator: it runs the steps in order, keeps the results of the steps that
succeeded, and retries from the failed step a bounded number of times within a time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pytest_agentchaos import agent

#: The source of truth for approved launch prices.
CATALOG: dict[str, dict[str, Any]] = {
    "TR-2": {"name": "Trail Runner 2", "category": "running shoes", "price": 89.0},
}

PRODUCT: dict[str, Any] = {"sku": "TR-2", "quantity": 5, "order_id": "launch-TR-2"}


class LaunchFailed(Exception):
    """The coordinator gave up: out of attempts or out of time."""


class PriceMismatch(ValueError):
    """Marketing was handed a price that is not the catalog's."""


@dataclass
class Warehouse:
    """In-memory stock; every reservation is logged so a double reservation shows."""

    stock: dict[str, int]
    log: list[tuple[str, int]] = field(default_factory=list)

    def reserve(self, sku: str, quantity: int) -> None:
        if self.stock.get(sku, 0) < quantity:
            raise ValueError(f"only {self.stock.get(sku, 0)} of {sku} left, {quantity} wanted")
        self.stock[sku] -= quantity
        self.log.append((sku, quantity))

    def reserved(self, sku: str) -> int:
        return sum(quantity for name, quantity in self.log if name == sku)


@agent("listing")
def write_listing(product: dict[str, Any]) -> dict[str, Any]:
    entry = CATALOG[product["sku"]]
    return {
        "sku": product["sku"],
        "title": entry["name"],
        "description": f"{entry['name']}: light, grippy {entry['category']} for rough trails.",
    }


@agent("pricing")
def quote_price(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "sku": product["sku"],
        "price": CATALOG[product["sku"]]["price"],
        "currency": "EUR",
        "source": "pricing",
    }


# A side-effecting agent: under chaos it runs at most once per idempotency key (here the order
# id), and a repeated call gets the recorded result instead of reserving again.
@agent("inventory", side_effect=True, key=lambda warehouse, order: order["order_id"])
def reserve_stock(warehouse: Warehouse, order: dict[str, Any]) -> dict[str, Any]:
    warehouse.reserve(order["sku"], order["quantity"])
    return {"order_id": order["order_id"], "sku": order["sku"], "reserved": order["quantity"]}


@agent("marketing")
def write_campaign(listing: dict[str, Any], quote: dict[str, Any]) -> dict[str, Any]:
    approved = CATALOG[quote["sku"]]["price"]
    if quote["price"] != approved:
        raise PriceMismatch(f"quoted {quote['price']} for {quote['sku']}, catalog says {approved}")
    return {
        "headline": f"New: {listing['title']}",
        "body": listing["description"],
        "price_text": f"{quote['price']:.2f} {quote['currency']}",
    }


def launch(
    product: dict[str, Any], warehouse: Warehouse, *, attempts: int = 3, budget_s: float = 1.0
) -> dict[str, Any]:
    """Run the pipeline; retry from the failed step, at most ``attempts`` times in ``budget_s``."""
    started = time.monotonic()
    done: dict[str, Any] = {}
    error: Exception | None = None
    for attempt in range(1, attempts + 1):
        try:
            if "listing" not in done:
                done["listing"] = write_listing(product)
            if "quote" not in done:
                done["quote"] = quote_price(product)
            if "reservation" not in done:
                done["reservation"] = reserve_stock(warehouse, product)
            campaign = write_campaign(done["listing"], done["quote"])
        except PriceMismatch as mismatch:
            del done["quote"]  # the price was wrong: ask pricing again
            error = mismatch
        except Exception as failure:
            error = failure
        else:
            return {"status": "published", **done, "campaign": campaign}
        elapsed = time.monotonic() - started
        if elapsed > budget_s:
            raise LaunchFailed(
                f"out of time after {attempt} attempt(s) ({elapsed:.2f} s > {budget_s} s)"
            ) from error
    raise LaunchFailed(f"gave up after {attempts} attempts") from error
