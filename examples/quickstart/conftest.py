"""Fixtures for the quickstart suite, and a recovery strategy of our own.

A strategy is a pair of ``@hookimpl`` functions in a conftest.py (or a plugin module, or a
package with an ``agentchaos`` entry point): one names the strategies it provides, the other
is asked to recover a failure and returns a ``Recovery`` or ``None`` to decline.
"""

from __future__ import annotations

from typing import Any

import pytest
from pipeline import CATALOG, Warehouse

from pytest_agentchaos import Failure, Recovery, hookimpl


@pytest.fixture
def warehouse() -> Warehouse:
    return Warehouse(stock={"TR-2": 20})


@hookimpl
def agentchaos_strategies() -> list[str]:
    return ["fallback_price"]


@hookimpl
def agentchaos_recover(failure: Failure, strategy: str) -> Recovery | None:
    """``fallback_price``: when pricing fails, quote the catalog's approved price instead."""
    if strategy != "fallback_price" or failure.agent != "pricing":
        return None
    product: dict[str, Any] = failure.args[0]
    quote = {
        "sku": product["sku"],
        "price": CATALOG[product["sku"]]["price"],
        "currency": "EUR",
        "source": "fallback",
    }
    return Recovery(quote, detail="catalog price")
