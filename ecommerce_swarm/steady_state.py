"""Steady-state checks: what must hold after a run, named in a scenario's ``steady_state``.

Like a chaos experiment's steady-state hypothesis: the same checks pass fault-free and must
still pass under faults. :func:`violations` returns what failed, in words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ecommerce_swarm.ontology import category

State = dict[str, Any]


def _published(state: State) -> list[str]:
    wanted = [
        p["sku"]
        for p in state.get("products", [])
        if "campaigns" not in state or state["campaigns"][p["sku"]]["active"]
    ]
    got = state.get("published", [])
    return [] if got == wanted else [f"published {got}, expected {wanted}"]


def _rejected(state: State) -> list[str]:
    products = {p["sku"] for p in state.get("products", [])}
    leaked = [r["sku"] for r in state.get("rejected", []) if r["sku"] in products]
    return [f"rejected product {sku} went through intake" for sku in leaked]


def _bounds(state: State) -> list[str]:
    costs = {p["sku"]: p for p in state.get("products", [])}
    problems = []
    for sku, price in state.get("prices", {}).items():
        bounds = category(costs[sku]["category"])
        if not (bounds.min_price <= price["price"] <= bounds.max_price) or (
            price["price"] <= costs[sku]["cost"]
        ):
            problems.append(f"{sku}: price {price['price']} out of bounds or below cost")
    return problems


def _stock(state: State) -> list[str]:
    return [
        f"{sku}: negative stock {record}"
        for sku, record in state.get("stock", {}).items()
        if record["available"] < 0 or record["on_hand"] < 0
    ]


def _campaigns(state: State) -> list[str]:
    prices = state.get("prices", {})
    return [
        f"{sku}: advertises {c['advertised_price']}, listed {prices[sku]['price']}"
        for sku, c in state.get("campaigns", {}).items()
        if c["advertised_price"] != prices[sku]["price"]
    ]


def _report(state: State) -> list[str]:
    report = state.get("report")
    if report is None:
        return ["no report"]
    units = sum(line["units_available"] for line in report["lines"])
    value = round(sum(line["stock_value"] for line in report["lines"]), 2)
    if units != report["total_units"] or abs(value - report["total_stock_value"]) > 0.005:
        return [f"report totals {report['total_units']}/{report['total_stock_value']} != lines"]
    return []


CHECKS: dict[str, Callable[[State], list[str]]] = {
    "valid_products_published": _published,
    "invalid_products_rejected": _rejected,
    "prices_within_bounds": _bounds,
    "stock_never_negative": _stock,
    "campaigns_match_prices": _campaigns,
    "report_totals_match": _report,
}


def violations(state: State, checks: Iterable[str]) -> list[str]:
    """What the named checks find wrong with a final state (empty: the steady state holds)."""
    return [f"{name}: {problem}" for name in checks for problem in CHECKS[name](state)]
