"""Seeded product catalogs: the vendor's products for a scenario, the same for the same seed."""

from __future__ import annotations

import random

from ecommerce_swarm.models import Product
from ecommerce_swarm.ontology import category

# category -> (adjectives, nouns): product names are "<adjective> <noun> <series>".
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "electronics": (
        ("Nova", "Pulse", "Volt", "Echo", "Orbit"),
        ("Earbuds", "Charger", "Speaker", "Lamp", "Hub"),
    ),
    "apparel": (
        ("Alpine", "Harbor", "Meadow", "Urban", "Summit"),
        ("Jacket", "Tee", "Scarf", "Hoodie", "Cap"),
    ),
    "home": (
        ("Cedar", "Linen", "Stone", "Willow", "Copper"),
        ("Mug", "Throw", "Vase", "Shelf", "Kettle"),
    ),
    "sports": (
        ("Trail", "Sprint", "Peak", "Tide", "Ridge"),
        ("Runner", "Bottle", "Mat", "Pack", "Band"),
    ),
}

#: stock level -> (lowest, highest) units on hand; "scarce" leaves some products at zero.
STOCK_LEVELS: dict[str, tuple[int, int]] = {"normal": (10, 60), "scarce": (0, 9)}


def make_products(category_name: str, volume: int, seed: int, stock_level: str) -> list[Product]:
    """``volume`` distinct products of one category, with costs that leave room for a markup."""
    cat = category(category_name)
    rng = random.Random(f"catalog:{seed}:{category_name}")
    adjectives, nouns = _NAMES[category_name]
    low, high = STOCK_LEVELS[stock_level]
    top_cost = cat.max_price / max(cat.markups)
    products = []
    for number in range(volume):
        name = f"{adjectives[number % 5]} {nouns[(number // 5) % 5]} {number // 25 + 1}"
        cost = round(rng.uniform(cat.min_price, min(top_cost, cat.min_price * 40)), 2)
        products.append(
            Product(
                sku=f"{category_name[:3].upper()}-{1000 + number}",
                name=name,
                category=category_name,
                cost=cost,
                stock=rng.randint(low, high),
            )
        )
    return products
