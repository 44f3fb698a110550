"""Inventory sync: reserves launch stock in the warehouse ledger (a side effect) and reports
what is left. Never reserves more than is on hand."""

from __future__ import annotations

from typing import Any

from ecommerce_swarm.agents.base import Agent
from ecommerce_swarm.invariants import InvariantViolation, check_stock
from ecommerce_swarm.models import StockRecord, StockRequest


class InventoryAgent(Agent):
    name = "inventory"
    task = "sync_stock"
    input_model = StockRequest
    output_model = StockRecord

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Every reservation ever made, in order: a repeated sync shows here twice.
        self.ledger: list[tuple[str, int]] = []

    def ledger_units(self) -> int:
        """Units reserved over every reservation made (a double reservation counts twice)."""
        return sum(units for _, units in self.ledger)

    def produce(self, item: StockRequest) -> StockRecord:
        on_hand = item.product.stock
        reserved = min(item.demand, on_hand)
        if reserved:
            self.ledger.append((item.product.sku, reserved))
        return StockRecord(
            sku=item.product.sku, on_hand=on_hand, reserved=reserved, available=on_hand - reserved
        )

    def check(self, output: StockRecord, item: StockRequest) -> None:
        if output.sku != item.product.sku:
            raise InvariantViolation("stock_sku", f"{output.sku} for {item.product.sku}")
        check_stock(output)
