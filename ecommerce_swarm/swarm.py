"""The swarm assembled: agents, bus, checkpointer, handshakes and the lead's graph.

>>> from ecommerce_swarm import Swarm, load_scenario
>>> with Swarm(load_scenario("vendor_onboarding").with_volume(2), seed=7) as swarm:
...     result = swarm.run()
>>> result.state["published"]
['ELE-1000', 'ELE-1001']
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ecommerce_swarm.agents import AGENT_TYPES, Agent
from ecommerce_swarm.catalog import make_products
from ecommerce_swarm.handshake import Agreement, Responder, handshake
from ecommerce_swarm.instrumentation import instrument_models, instrument_workflow
from ecommerce_swarm.llm import LanguageModel, default_model
from ecommerce_swarm.ontology import HANDSHAKES
from ecommerce_swarm.scenario import Scenario
from ecommerce_swarm.workflow import JSON, Lead, SwarmState, build_workflow
from pytest_agentchaos.bus import MessageBus
from pytest_agentchaos.protocol import Message, MessageType
from pytest_agentchaos.semantic import Embedder, embedder

REVIEWS_WANTED = {"low": 1, "medium": 3, "high": 5}


@dataclass(frozen=True)
class SwarmResult:
    """The final state of a run, and what each agent did."""

    scenario: str
    seed: int
    state: dict[str, Any]
    swarm: Swarm | None = field(default=None, compare=False, repr=False)

    @property
    def log(self) -> list[str]:
        return list(self.state.get("log", []))

    def to_json(self) -> str:
        """Canonical JSON of the final state: byte-identical for one seed."""
        return json.dumps(self.state, sort_keys=True, indent=1)


class Swarm:
    """One scenario's agents, wired by a bus and a lead graph with a SQLite checkpointer.

    ``db`` is the checkpoint database (``":memory:"`` by default, a path to keep threads
    resumable across processes); ``retries`` is how many times the lead re-runs a failed step;
    ``embedder`` is ``"auto"`` (MiniLM when installed), ``"minilm"``, ``"lexical"`` (the default:
    fast) or an :class:`~pytest_agentchaos.semantic.Embedder`.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        db: str = ":memory:",
        retries: int = 2,
        timeout: float = 0.1,
        model: LanguageModel | None = None,
        embedder_kind: str | Embedder = "lexical",
        bus: MessageBus | None = None,
        instrumented: bool = True,
    ) -> None:
        from langgraph.checkpoint.sqlite import SqliteSaver

        self.scenario, self.seed, self.timeout = scenario, seed, timeout
        params = scenario.parameters
        self.connection = sqlite3.connect(db, check_same_thread=False)
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.saver = SqliteSaver(self.connection)
        self.bus = bus if bus is not None else MessageBus(validate=True)
        self._own_bus = bus is None
        self.embedder = embedder(embedder_kind) if isinstance(embedder_kind, str) else embedder_kind
        self.agents: dict[str, Agent] = {
            name: AGENT_TYPES[name](
                model if model is not None else default_model(seed, name),
                self.saver,
                params.complexity,
            )
            for name in params.workflow
        }
        self.vendor_notices: list[Message] = []
        self._register()
        self.agreements: dict[str, Agreement] = {}
        lead = Lead(self.agents, self.bus, self._agreement, timeout)
        workflow = build_workflow(lead, params.workflow, retries)
        if instrumented:  # off only to measure what instrumenting costs (bench/swarm.py)
            instrument_models(self.agents)
            # Before compile(): with `chaos_langgraph = auto` the plugin then leaves the graph
            # as instrumented here, side effects declared.
            instrument_workflow(workflow)
        self.graph = workflow.compile(checkpointer=self.saver, name="lead")

    def _register(self) -> None:
        self.bus.register("vendor", self.vendor_notices.append)
        self.bus.register("lead", lambda message: None)
        for name, agent in self.agents.items():
            self.bus.register(name, _dispatcher(agent, Responder(name, self.embedder)))

    def _agreement(self, name: str) -> Agreement | None:
        """The handshake before handing on to ``name``, run once per swarm."""
        sender = HANDSHAKES.get(name)
        if sender is None or sender not in self.agents:
            return None
        if name not in self.agreements:
            self.agreements[name] = handshake(self.bus, sender, name, self.embedder, self.timeout)
        return self.agreements[name]

    # -------------------------------------------------------------------- running
    def products(self, seed: int | None = None) -> list[JSON]:
        """The scenario's seeded catalog (of another ``seed`` than the swarm's, when given)."""
        params = self.scenario.parameters
        seed = self.seed if seed is None else seed
        catalog = make_products(params.category, params.volume, seed, params.stock_level)
        return [product.model_dump(mode="json") for product in catalog]

    def initial_state(self, products: Sequence[Any] | None = None) -> SwarmState:
        params = self.scenario.parameters
        return {
            "raw_products": list(products) if products is not None else self.products(),
            "demand": params.demand,
            "wanted_reviews": REVIEWS_WANTED[params.complexity],
            "log": [],
        }

    def config(self, thread: str) -> dict[str, Any]:
        return {"configurable": {"thread_id": thread}}

    def run(self, products: Sequence[Any] | None = None, *, thread: str = "run") -> SwarmResult:
        """Run the scenario (on ``products`` instead of the seeded catalog, when given)."""
        state = self.graph.invoke(
            self.initial_state(products), self.config(thread), durability="sync"
        )
        return SwarmResult(self.scenario.name, self.seed, dict(state), self)

    def resume(self, *, thread: str = "run") -> SwarmResult:
        """Continue a thread that failed, from its last checkpoint."""
        state = self.graph.invoke(None, self.config(thread), durability="sync")
        return SwarmResult(self.scenario.name, self.seed, dict(state), self)

    def close(self) -> None:
        if self._own_bus:
            self.bus.close()
        self.connection.close()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _dispatcher(agent: Agent, responder: Responder) -> Any:
    """One bus handler per agent: tasks to the agent, handshake steps to its responder."""

    def dispatch(message: Message) -> Message | dict[str, Any] | None:
        if message.body.task is not None and message.body.task.startswith("handshake."):
            return responder.handle(message)
        if message.header.type in (MessageType.TASK_COMPLETE, MessageType.TASK_FAIL):
            return None  # a reply that no request waited for: nothing to answer
        return agent.handle(message)

    return dispatch
