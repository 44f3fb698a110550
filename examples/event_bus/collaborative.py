"""Collaborative mode: agents that complete an order together by reacting to each other's events.

    shop --order.placed--> inventory --stock.reserved--> billing --payment.charged--> notifier
      ^                                                                                   |
      +---------------------------------- customer.notified ------------------------------+

Each agent subscribes to the event before its step, does its part and publishes its own result
event; nobody coordinates them. Every agent is idempotent per order id: an event that arrives
twice (a duplicate, a redelivery) makes no second reservation, charge or e-mail, it only
announces the agent's result again, which the next agent ignores in the same way. So the flow
tolerates duplicates, and an at-least-once bus may redeliver freely.

Each agent's handler is marked with ``@agent(...)``, so agent faults (``chaos_crash``) can hit it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events import event, fields

from pytest_agentchaos import Message, MessageBus, agent

ORDER_PLACED = "order.placed"
STOCK_RESERVED = "stock.reserved"
PAYMENT_CHARGED = "payment.charged"
CUSTOMER_NOTIFIED = "customer.notified"


class OrderStalled(Exception):
    """Orders the shop placed never came back as notified."""


@dataclass
class Ledger:
    """The outside world: every reservation, charge and e-mail, in the order they happened."""

    stock: dict[str, int]
    actions: list[tuple[str, str]] = field(default_factory=list)

    def times(self, action: str, order_id: str) -> int:
        return self.actions.count((action, order_id))


class Inventory:
    name = "inventory"

    def __init__(self, bus: MessageBus, ledger: Ledger) -> None:
        self.bus, self.ledger = bus, ledger
        self.reserved: dict[str, int] = {}  # order id -> quantity: what makes it idempotent
        bus.subscribe(ORDER_PLACED, self.name, self.on_order_placed)

    @agent("inventory")
    def on_order_placed(self, message: Message) -> None:
        order = fields(message)
        order_id, sku, quantity = order["order_id"], order["sku"], order["quantity"]
        if order_id not in self.reserved:
            if self.ledger.stock.get(sku, 0) < quantity:
                raise ValueError(f"out of stock: {sku}")
            self.ledger.stock[sku] -= quantity
            self.ledger.actions.append(("reserve", order_id))
            self.reserved[order_id] = quantity
        self.bus.publish(STOCK_RESERVED, event(STOCK_RESERVED, self.name, **order))


class Billing:
    name = "billing"

    def __init__(self, bus: MessageBus, ledger: Ledger) -> None:
        self.bus, self.ledger = bus, ledger
        self.charged: dict[str, float] = {}
        bus.subscribe(STOCK_RESERVED, self.name, self.on_stock_reserved)

    @agent("billing")
    def on_stock_reserved(self, message: Message) -> None:
        order = fields(message)
        order_id = order["order_id"]
        if order_id not in self.charged:
            self.charged[order_id] = order["quantity"] * order["price"]
            self.ledger.actions.append(("charge", order_id))
        charge = self.charged[order_id]
        self.bus.publish(PAYMENT_CHARGED, event(PAYMENT_CHARGED, self.name, **order, amount=charge))


class Notifier:
    name = "notifier"

    def __init__(self, bus: MessageBus, ledger: Ledger) -> None:
        self.bus, self.ledger = bus, ledger
        self.sent: set[str] = set()
        bus.subscribe(PAYMENT_CHARGED, self.name, self.on_payment_charged)

    @agent("notifier")
    def on_payment_charged(self, message: Message) -> None:
        order = fields(message)
        order_id = order["order_id"]
        if order_id not in self.sent:
            self.sent.add(order_id)
            self.ledger.actions.append(("email", order_id))
        self.bus.publish(CUSTOMER_NOTIFIED, event(CUSTOMER_NOTIFIED, self.name, order_id=order_id))


class Shop:
    """Places orders and waits for each to come back as ``customer.notified``.

    ``on_stalled(reason)`` is called (before :class:`OrderStalled` is raised) when some order
    never completed: a hook for whoever watches the system, such as a chaos test.
    """

    name = "shop"

    def __init__(self, bus: MessageBus, on_stalled: Callable[[str], object] | None = None) -> None:
        self.bus, self.on_stalled = bus, on_stalled
        self.placed: list[str] = []
        self.completed: list[str] = []  # in the order the notifications came back
        bus.subscribe(CUSTOMER_NOTIFIED, self.name, self.on_customer_notified)

    def place(self, order_id: str, sku: str, quantity: int, price: float) -> None:
        self.placed.append(order_id)
        order: dict[str, Any] = {
            "order_id": order_id,
            "sku": sku,
            "quantity": quantity,
            "price": price,
        }
        self.bus.publish(ORDER_PLACED, event(ORDER_PLACED, self.name, **order))

    def on_customer_notified(self, message: Message) -> None:
        order_id = fields(message)["order_id"]
        if order_id not in self.completed:
            self.completed.append(order_id)

    def settle(self, timeout: float = 1.0) -> list[str]:
        """Let delayed and held events arrive; the completed orders, or :class:`OrderStalled`."""
        self.bus.drain(timeout)
        stalled = [order_id for order_id in self.placed if order_id not in self.completed]
        if stalled:
            reason = f"orders never notified: {', '.join(stalled)}"
            if self.on_stalled is not None:
                self.on_stalled(reason)
            raise OrderStalled(reason)
        return self.completed


@dataclass
class OrderFlow:
    """The four collaborating agents on one bus, and the ledger they write to."""

    shop: Shop
    inventory: Inventory
    billing: Billing
    notifier: Notifier
    ledger: Ledger


def build_order_flow(
    bus: MessageBus, stock: dict[str, int], on_stalled: Callable[[str], object] | None = None
) -> OrderFlow:
    ledger = Ledger(stock=dict(stock))
    return OrderFlow(
        shop=Shop(bus, on_stalled),
        inventory=Inventory(bus, ledger),
        billing=Billing(bus, ledger),
        notifier=Notifier(bus, ledger),
        ledger=ledger,
    )
