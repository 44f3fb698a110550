"""The lead agent: a LangGraph graph whose nodes hand each step to an agent over the bus.

``intake -> <the scenario's agents, in order> -> publish``. Each agent node sends a TASK_ASSIGN
(the items of that step) to its agent, waits for the reply and validates it as a receiver must:
the envelope (the bus checks its hash), the reply's type and correlation, every output against
its pydantic model and the business invariants. A TASK_FAIL or a failed check raises
:class:`HandoffFailed`, which fails the node: the graph's retry policy asks again, or the thread
stays resumable from the SQLite checkpointer. State holds plain JSON, so the final state of a
seed is byte-identical run after run.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, ValidationError

from ecommerce_swarm.agents import Agent
from ecommerce_swarm.handshake import Agreement
from ecommerce_swarm.models import Product
from pytest_agentchaos.bus import MessageBus
from pytest_agentchaos.protocol import Message, MessageType

JSON = dict[str, Any]


class SwarmState(TypedDict, total=False):
    raw_products: list[JSON]
    demand: int
    wanted_reviews: int
    products: list[JSON]
    rejected: list[JSON]
    listings: dict[str, JSON]
    prices: dict[str, JSON]
    stock: dict[str, JSON]
    campaigns: dict[str, JSON]
    reviews: dict[str, list[JSON]]
    report: JSON
    published: list[str]
    log: Annotated[list[str], operator.add]


class HandoffFailed(Exception):
    """An agent failed its task or handed back something that does not hold up.

    Not a ValueError on purpose: LangGraph's default retry policy retries it.
    """


class Lead:
    """The lead agent's node functions; ``agreements`` come from the semantic handshakes."""

    def __init__(
        self,
        agents: dict[str, Agent],
        bus: MessageBus,
        agreements: Callable[[str], Agreement | None],
        timeout: float,
    ) -> None:
        self.agents, self.bus, self.agreements, self.timeout = agents, bus, agreements, timeout

    # --------------------------------------------------------------------- handoffs
    def handoff(self, name: str, items: list[JSON]) -> list[BaseModel]:
        """Send ``items`` to agent ``name``; its outputs, validated, in the items' order."""
        agent = self.agents[name]
        agreement = self.agreements(name)
        request = Message.create(
            MessageType.TASK_ASSIGN,
            "lead",
            name,
            task=agent.task,
            parameters={"items": list(items)},
            semantic_definitions=agreement.definitions if agreement else None,
        )
        reply = self.bus.request(request, timeout=self.timeout)
        if reply.header.correlation_id != request.header.message_id or reply.header.sender != name:
            raise HandoffFailed(f"{name}: reply does not answer task {request.header.message_id}")
        if reply.header.type is MessageType.TASK_FAIL:
            raise HandoffFailed(f"{name} failed: {reply.body.parameters.get('reason')}")
        if reply.header.type is not MessageType.TASK_COMPLETE:
            raise HandoffFailed(f"{name} replied {reply.header.type.value}, not TASK_COMPLETE")
        outputs = reply.body.parameters.get("outputs")
        if not isinstance(outputs, list):
            raise HandoffFailed(f"{name}: reply has no list of outputs")
        try:
            parsed = [agent.output_model.model_validate(o) for o in outputs]
            inputs = [agent.input_model.model_validate(i) for i in items]
            agent.check_all(parsed, inputs)  # the receiver's own check of what arrived
        except (ValidationError, ValueError) as error:
            raise HandoffFailed(f"{name} handed back bad output: {error}") from error
        return parsed

    # -------------------------------------------------------------------- the nodes
    def intake(self, state: SwarmState) -> SwarmState:
        accepted: list[JSON] = []
        rejected: list[JSON] = []
        for raw in state["raw_products"]:
            try:
                accepted.append(Product.model_validate(raw).model_dump(mode="json"))
            except ValidationError as error:
                reason = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()
                )
                sku = raw.get("sku") if isinstance(raw, dict) else None
                rejected.append({"sku": sku, "reason": reason})
                notice = Message.create(
                    MessageType.TASK_FAIL,
                    "lead",
                    "vendor",
                    task="intake",
                    parameters={"sku": sku, "reason": reason},
                )
                self.bus.send(notice)
        line = f"intake     accepted {len(accepted)}, rejected {len(rejected)}"
        line += "".join(f"\n           rejected {r['sku']!r}: {r['reason']}" for r in rejected)
        return {"products": accepted, "rejected": rejected, "log": [line]}

    def listing(self, state: SwarmState) -> SwarmState:
        _require(state, "products")
        listings = self.handoff("listing", state["products"])
        by_sku = _by_sku(listings)
        return {"listings": by_sku, "log": [f"listing    wrote {len(by_sku)} listings"]}

    def pricing(self, state: SwarmState) -> SwarmState:
        _require(state, "products")
        quotes = self.handoff("pricing", state["products"])
        prices = _by_sku(quotes)
        values = [p["price"] for p in prices.values()]
        line = f"pricing    quoted {len(prices)} prices"
        if values:
            line += f" ({min(values):.2f} to {max(values):.2f} EUR)"
        return {"prices": prices, "log": [line]}

    def inventory(self, state: SwarmState) -> SwarmState:
        _require(state, "products")
        items = [{"product": p, "demand": state["demand"]} for p in state["products"]]
        records = [r.model_dump(mode="json") for r in self.handoff("inventory", items)]
        reserved = sum(r["reserved"] for r in records)
        sold_out = sum(1 for r in records if r["available"] == 0)
        line = (
            f"inventory  reserved {reserved} units for {len(records)} products, {sold_out} sold out"
        )
        return {"stock": {r["sku"]: r for r in records}, "log": [line]}

    def marketing(self, state: SwarmState) -> SwarmState:
        _require(state, "listings", "prices", "stock")
        items = [
            {
                "listing": state["listings"][s],
                "price": state["prices"][s],
                "stock": state["stock"][s],
            }
            for s in _skus(state)
        ]
        campaigns = [c.model_dump(mode="json") for c in self.handoff("marketing", items)]
        active = sum(1 for c in campaigns if c["active"])
        paused = len(campaigns) - active
        line = f"marketing  {len(campaigns)} campaigns, {active} active, {paused} paused"
        return {"campaigns": {c["sku"]: c for c in campaigns}, "log": [line]}

    def feedback(self, state: SwarmState) -> SwarmState:
        _require(state, "listings")
        wanted = state["wanted_reviews"]
        items = [{"listing": state["listings"][s], "wanted": wanted} for s in _skus(state)]
        batches = [b.model_dump(mode="json") for b in self.handoff("feedback", items)]
        ratings = [r["rating"] for b in batches for r in b["reviews"]]
        mean = sum(ratings) / len(ratings) if ratings else 0.0
        line = f"feedback   {len(ratings)} reviews, mean rating {mean:.2f}"
        return {"reviews": {b["sku"]: b["reviews"] for b in batches}, "log": [line]}

    def analytics(self, state: SwarmState) -> SwarmState:
        _require(state, "prices", "stock")
        reviews = state.get("reviews", {})
        items = [
            {"price": state["prices"][s], "stock": state["stock"][s], "reviews": reviews.get(s, [])}
            for s in _skus(state)
        ]
        [report] = [r.model_dump(mode="json") for r in self.handoff("analytics", items)]
        line = f"analytics  {report['summary']}"
        return {"report": report, "log": [line]}

    def publish(self, state: SwarmState) -> SwarmState:
        _require(state, "products")
        campaigns = state.get("campaigns")
        published = [
            sku
            for sku in _skus(state)
            if sku in state.get("listings", {sku: {}})
            and sku in state.get("prices", {sku: {}})
            and (campaigns is None or campaigns[sku]["active"])
        ]
        shown = ", ".join(published[:5]) + (" ..." if len(published) > 5 else "")
        line = f"publish    {len(published)} products published: {shown or 'none'}"
        return {"published": published, "log": [line]}


#: state key -> the step that writes it, for saying which step left a gap.
_WRITTEN_BY = {
    "products": "intake",
    "listings": "listing",
    "prices": "pricing",
    "stock": "inventory",
}


def _require(state: SwarmState, *keys: str) -> None:
    """Fail the step when an earlier one left its output out (a skipped step, a lost update)."""
    for key in keys:
        if key not in state:
            raise HandoffFailed(
                f"no {key} in the workflow state: the {_WRITTEN_BY[key]} step produced nothing"
            )


def _by_sku(outputs: list[BaseModel]) -> dict[str, JSON]:
    dumped = [output.model_dump(mode="json") for output in outputs]
    return {item["sku"]: item for item in dumped}


def _skus(state: SwarmState) -> list[str]:
    return [p["sku"] for p in state["products"]]


def build_workflow(lead: Lead, steps: tuple[str, ...], retries: int) -> Any:
    """The lead's graph over ``steps`` (a ``StateGraph``, to compile); ``retries`` extra
    attempts of a failed step."""
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import RetryPolicy

    graph = StateGraph(SwarmState)
    policy = (
        RetryPolicy(
            max_attempts=retries + 1, initial_interval=0.0, jitter=False, retry_on=Exception
        )
        if retries
        else None
    )
    order = ("intake", *steps, "publish")
    for name in order:
        graph.add_node(name, getattr(lead, name), retry_policy=policy)
    graph.add_edge(START, order[0])
    for before, after in itertools.pairwise(order):
        graph.add_edge(before, after)
    graph.add_edge(order[-1], END)
    return graph
