"""A user-style LangGraph checkout: cart, a parallel stock check and fraud check, a review
router, the card charge (a side effect), the confirmation email.

Nothing here knows about pytest-agentchaos except :func:`make_graph`, the one line a user adds
to let a kill sweep build the graph on a SQLite checkpointer of its choosing.
"""

from __future__ import annotations

import operator
import sqlite3
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph

PRICES = {"mug": 12.5, "tee": 20.0, "cap": 15.0}
STOCK = {"mug": 10, "tee": 3, "cap": 0}


class Checkout(TypedDict, total=False):
    order_id: str
    items: list[dict[str, Any]]
    total: float
    in_stock: bool
    fraud: dict[str, Any]
    charge_id: str
    status: str
    emails: Annotated[list[str], operator.add]


class Gateway:
    """The payment provider: every charge it takes is money taken from a customer.

    With a ``ledger`` file it also writes each charge there, as the provider's own records
    would outlive a killed process.
    """

    def __init__(self, ledger: Path | None = None) -> None:
        self.charges: list[tuple[str, float]] = []
        self.ledger = ledger

    def charge(self, order_id: str, amount: float) -> str:
        self.charges.append((order_id, amount))
        if self.ledger is not None:
            with self.ledger.open("a") as records:
                records.write(f"{order_id} {amount}\n")
        return f"ch_{order_id}"


GATEWAY = Gateway()


def cart(state: Checkout) -> Checkout:
    total = sum(PRICES[item["sku"]] * item["qty"] for item in state["items"])
    return {"total": round(total, 2), "status": "priced"}


def stock_check(state: Checkout) -> Checkout:
    return {"in_stock": all(item["qty"] <= STOCK[item["sku"]] for item in state["items"])}


def fraud_check(state: Checkout) -> Checkout:
    score = round(min(1.0, state["total"] / 500), 3)
    return {"fraud": {"score": score, "flagged": score > 0.8}}


def review(state: Checkout) -> Checkout:
    return {"status": "reviewed"}


def decide(state: Checkout) -> Literal["charge_card", "reject"]:
    if state["in_stock"] and not state["fraud"]["flagged"]:
        return "charge_card"
    return "reject"


def charge_card(state: Checkout) -> Checkout:
    return {"charge_id": GATEWAY.charge(state["order_id"], state["total"]), "status": "paid"}


def reject(state: Checkout) -> Checkout:
    return {"status": "rejected"}


def email(state: Checkout) -> Checkout:
    return {"emails": [f"{state['order_id']}: {state['status']}"]}


def build() -> StateGraph[Any]:
    graph = StateGraph(Checkout)
    for node in (cart, stock_check, fraud_check, review, charge_card, reject, email):
        graph.add_node(node.__name__, node)  # type: ignore[call-overload]
    graph.add_edge(START, "cart")
    graph.add_edge("cart", "stock_check")
    graph.add_edge("cart", "fraud_check")
    graph.add_edge(["stock_check", "fraud_check"], "review")
    graph.add_conditional_edges("review", decide)
    graph.add_edge("charge_card", "email")
    graph.add_edge("reject", "email")
    graph.add_edge("email", END)
    return graph


ORDER: Checkout = {"order_id": "A1", "items": [{"sku": "mug", "qty": 2}, {"sku": "tee", "qty": 1}]}


def make_graph(db_path: str, side_effects: tuple[str, ...] = ("charge_card",)) -> Any:
    """The checkout on a SQLite checkpointer at ``db_path``, instrumented: for a kill sweep.

    The gateway records its charges beside the database, so they can be counted afterwards.
    """
    from langgraph.checkpoint.sqlite import SqliteSaver

    from pytest_agentchaos.integrations.langgraph import instrument

    GATEWAY.ledger = charges_file(db_path)
    saver = SqliteSaver(sqlite3.connect(db_path, check_same_thread=False))
    return instrument(build().compile(checkpointer=saver), side_effects=side_effects)


def make_unprotected_graph(db_path: str) -> Any:
    """The same checkout with the charge *not* declared a side effect (LangGraph alone)."""
    return make_graph(db_path, side_effects=())


def charges_file(db_path: str | Path) -> Path:
    return Path(db_path).with_suffix(".charges")
