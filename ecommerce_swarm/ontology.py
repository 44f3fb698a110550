"""What the swarm knows about its trade: categories with price bounds, and the terms agents use.

Agents name the same thing differently (the listing agent's "SKU" is the inventory agent's "stock
keeping unit"); the semantic handshake (:mod:`ecommerce_swarm.handshake`) aligns them from the
definitions below, because a sentence model does not know bare acronyms (NOTES.md: cosine(SKU,
stock keeping unit) = 0.14). One term, "margin", truly conflicts between pricing and analytics.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    name: str
    min_price: float
    max_price: float
    markups: tuple[float, ...]  # the markups the pricing agent may choose from
    noun: str  # how copy talks about one product


CATEGORIES: dict[str, Category] = {
    c.name: c
    for c in (
        Category("electronics", 5.0, 2500.0, (1.25, 1.35, 1.5), "gadget"),
        Category("apparel", 3.0, 400.0, (1.8, 2.0, 2.4), "piece"),
        Category("home", 2.0, 900.0, (1.5, 1.7, 1.9), "home essential"),
        Category("sports", 4.0, 1200.0, (1.4, 1.6, 1.8), "piece of kit"),
    )
}


def category(name: str) -> Category:
    """The category called ``name``; an error lists the known ones."""
    try:
        return CATEGORIES[name]
    except KeyError:
        known = ", ".join(CATEGORIES)
        raise ValueError(f"unknown category {name!r}; known categories: {known}") from None


#: term -> definition, the shared dictionary every agent's vocabulary points into.
DEFINITIONS: dict[str, str] = {
    "SKU": "stock keeping unit: the unique code that identifies one product",
    "stock keeping unit": "the unique code that identifies one product in the catalog",
    "product code": "the code that identifies one product for sale",
    "list price": "the price a customer pays for the product, as published in the listing",
    "advertised price": "the price a campaign shows customers for the product",
    "quantity on hand": "how many units of the product are physically in the warehouse",
    "available stock": "units in the warehouse that are not reserved and can be sold",
    "margin": "price minus cost, as a fraction of the price",
    "markup": "price divided by cost, the factor applied to the cost to set the price",
}

#: agent -> the terms it uses in its handoffs.
VOCABULARY: dict[str, tuple[str, ...]] = {
    "listing": ("SKU", "list price"),
    "pricing": ("SKU", "list price", "margin"),
    "inventory": ("stock keeping unit", "quantity on hand"),
    "marketing": ("product code", "advertised price", "available stock"),
    "analytics": ("stock keeping unit", "available stock", "markup"),
    "feedback": ("product code",),
}

#: receiver -> sender: before the lead hands the sender's outputs to the receiver, the two run
#: the semantic handshake (they name things differently).
HANDSHAKES: dict[str, str] = {"marketing": "inventory", "analytics": "pricing"}

#: Pairs that name one concept in two vocabularies (the ground truth the handshake must find).
SAME_CONCEPT: frozenset[frozenset[str]] = frozenset(
    frozenset(pair)
    for pair in (
        ("SKU", "stock keeping unit"),
        ("SKU", "product code"),
        ("stock keeping unit", "product code"),
        ("list price", "advertised price"),
    )
)

#: Pairs that look alike but must not be merged: the handshake negotiates them.
CONFLICTS: frozenset[frozenset[str]] = frozenset(
    {frozenset(("margin", "markup")), frozenset(("quantity on hand", "available stock"))}
)
