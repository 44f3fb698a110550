"""instrument(): every node and router of a real LangGraph graph is an agent, and each fault
kind acts on a node with LangGraph's meaning (an update, a route, a RetryPolicy, a timeout)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import NodeTimeoutError
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy
from langgraph_graphs import (
    async_graph,
    chaos,
    checkout,
    handoff_graph,
    nested_graph,
    started,
    thread,
)
from pydantic import BaseModel

from pytest_agentchaos import agent
from pytest_agentchaos.errors import AgentCrashed, AgentLooping, ChaosConfigError
from pytest_agentchaos.integrations.langgraph import graph_info, instrument, is_instrumented
from pytest_agentchaos.model.outcomes import Outcome

REFERENCE = checkout.build().compile().invoke(checkout.ORDER)


@pytest.fixture(autouse=True)
def _fresh_gateway() -> None:
    checkout.GATEWAY.charges.clear()


def test_importing_the_integration_loads_no_langgraph() -> None:
    code = (
        "import sys, pytest_agentchaos, pytest_agentchaos.integrations.langgraph;"
        "import pytest_agentchaos.strategies.checkpoint;"
        "print(sorted(m for m in sys.modules if m.startswith('langgraph')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("thing", [object(), "graph", checkout.build])
def test_instrument_of_something_else_is_a_type_error_naming_the_type(thing: Any) -> None:
    with pytest.raises(TypeError, match="StateGraph or a compiled graph, got") as raised:
        instrument(thing)
    assert type(thing).__qualname__ in str(raised.value)


def test_side_effects_naming_no_node_is_an_error_listing_the_nodes() -> None:
    with pytest.raises(ChaosConfigError, match="'charge'") as raised:
        instrument(checkout.build(), side_effects=["charge"])
    assert "charge_card" in str(raised.value)
    assert "stock_check" in str(raised.value)


def test_outside_a_chaos_run_an_instrumented_graph_gives_the_plain_result() -> None:
    graph = instrument(checkout.build().compile(), side_effects=["charge_card"])

    assert graph.invoke(checkout.ORDER) == REFERENCE
    assert is_instrumented(graph)
    assert not is_instrumented(checkout.build())


def test_every_node_and_router_is_an_agent_named_after_it_once() -> None:
    builder = checkout.build()
    graph = instrument(instrument(builder).compile())  # twice: still one agent per node

    with chaos() as run:
        assert graph.invoke(checkout.ORDER) == REFERENCE

    assert sorted(started(run)) == sorted(
        ["cart", "stock_check", "fraud_check", "review", "route:review", "charge_card", "email"]
    )


def test_a_subgraphs_node_can_be_declared_side_effecting_by_its_full_name() -> None:
    graph = instrument(nested_graph().compile(), side_effects=["write/draft"])
    info = graph_info(graph)

    assert info is not None
    assert info.nodes == ["write/draft", "write/polish", "publish"]
    assert info.side_effects == {"write/draft"}
    with pytest.raises(ChaosConfigError, match="its nodes: write/draft, write/polish, publish"):
        instrument(nested_graph(), side_effects=["draft"])


def test_a_subgraphs_nodes_are_named_parent_slash_child() -> None:
    graph = instrument(nested_graph().compile())

    with (
        chaos(("crash", {"target": "write/polish", "at_call": 1})) as run,
        pytest.raises(AgentCrashed),
    ):
        graph.invoke({"words": []})

    assert started(run) == ["write/draft", "write/polish"]


def test_async_nodes_are_agents_and_crash_in_ainvoke() -> None:
    graph = instrument(async_graph().compile())

    with chaos(("crash", {"target": "done"})) as run, pytest.raises(AgentCrashed):
        asyncio.run(graph.ainvoke({"count": 0}))

    assert started(run) == ["bump", "done"]


def test_a_sync_node_in_an_async_run_is_still_an_agent() -> None:
    graph = instrument(checkout.build().compile())

    with chaos() as run:
        assert asyncio.run(graph.ainvoke(checkout.ORDER)) == REFERENCE

    assert "charge_card" in started(run)


def _retrying_checkout() -> Any:
    builder = checkout.build()
    policy = RetryPolicy(max_attempts=2, initial_interval=0.0, jitter=False)
    builder.nodes["cart"].retry_policy = policy
    return instrument(builder.compile())


def test_crash_as_connection_error_is_retried_by_langgraphs_default_retry_policy() -> None:
    graph = _retrying_checkout()

    with chaos(("crash", {"target": "cart", "at_call": 1, "error": "ConnectionError"})) as run:
        assert graph.invoke(checkout.ORDER) == REFERENCE
    (fault,) = run.finish()

    assert fault.outcome is Outcome.RECOVERED
    assert fault.strategy is None  # the system's own resilience: LangGraph's RetryPolicy
    assert started(run).count("cart") == 2


def test_crash_as_value_error_is_not_retried_and_keeps_its_type() -> None:
    graph = _retrying_checkout()

    with (
        chaos(("crash", {"target": "cart", "error": "ValueError"})) as run,
        pytest.raises(ValueError, match="crashed before call 1") as raised,
    ):
        graph.invoke(checkout.ORDER)

    assert isinstance(raised.value, AgentCrashed)
    assert started(run).count("cart") == 1


def test_hang_in_an_async_node_is_stopped_by_the_nodes_own_timeout() -> None:
    graph = instrument(async_graph(timeout=0.05).compile())

    with (
        chaos(("hang", {"target": "bump", "seconds": 5})) as run,
        pytest.raises(NodeTimeoutError, match="'bump' exceeded its run timeout"),
    ):
        asyncio.run(graph.ainvoke({"count": 0}))
    (fault,) = run.finish()

    assert fault.detected_ns is not None  # LangGraph cancelled the node: the hang surfaced
    assert (fault.detected_ns - fault.injected_ns) / 1e9 < 2.0
    assert "call_cancelled" in [kind for _, _, kind, _, _ in run.events]


def test_delay_within_deadlines_is_tolerated() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("delay", {"target": "fraud_check", "seconds": 0.01})) as run:
        assert graph.invoke(checkout.ORDER) == REFERENCE

    assert [f.outcome for f in run.finish()] == [Outcome.TOLERATED]


def test_memory_wipe_hands_the_node_an_empty_state() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("memory_wipe", {"target": "cart"})) as run, pytest.raises(KeyError, match="items"):
        graph.invoke(checkout.ORDER)

    assert run.finish()[0].outcome is Outcome.UNRECOVERED


def test_hallucination_replaces_a_dotted_field_of_the_nodes_update() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("hallucination", {"target": "fraud_check", "field": "fraud.score"})) as run:
        state = graph.invoke(checkout.ORDER)
    (fault,) = run.finish()

    assert state["fraud"]["score"] != REFERENCE["fraud"]["score"]
    assert isinstance(state["fraud"]["score"], float)
    assert state["fraud"]["flagged"] == REFERENCE["fraud"]["flagged"]
    assert fault.params["detail"]["field"] == "fraud.score"
    assert fault.outcome is Outcome.SILENT


def test_skip_step_returns_no_update_so_reducers_do_not_repeat_the_state() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("skip_step", {"target": "review"})) as run:
        state = graph.invoke(checkout.ORDER)

    assert state["status"] == "paid"
    assert state["emails"] == ["A1: paid"]  # the input's emails were not appended again
    assert run.finish()[0].kind == "skip_step"


def test_skip_step_of_the_charge_leaves_the_order_unpaid() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("skip_step", {"target": "charge_card"})):
        state = graph.invoke(checkout.ORDER)

    assert "charge_id" not in state
    assert state["emails"] == ["A1: reviewed"]
    assert checkout.GATEWAY.charges == []


def test_wrong_handoff_sends_a_router_elsewhere() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("wrong_handoff", {"target": "route:review"})) as run:
        state = graph.invoke(checkout.ORDER)
    (fault,) = run.finish()

    assert state["status"] == "rejected"  # the only other destination of the router
    assert fault.params["detail"] == {"intended": "charge_card", "sent_to": "reject"}
    assert checkout.GATEWAY.charges == []


def test_wrong_handoff_changes_a_commands_goto() -> None:
    graph = instrument(handoff_graph().compile())

    with chaos(("wrong_handoff", {"target": "pick", "to": "right"})):
        state = graph.invoke({"log": []})

    assert state["log"] == ["pick", "right"]


def test_infinite_loop_is_stopped_by_the_deadline() -> None:
    graph = instrument(checkout.build().compile())

    with (
        chaos(("infinite_loop", {"target": "review", "seconds": 0.05})) as run,
        pytest.raises(AgentLooping),
    ):
        graph.invoke(checkout.ORDER)

    assert run.finish()[0].outcome is Outcome.UNRECOVERED


def test_a_side_effect_node_runs_once_per_thread_and_state() -> None:
    graph = instrument(
        checkout.build().compile(checkpointer=InMemorySaver()), side_effects=["charge_card"]
    )

    crash = ("crash", {"target": "charge_card", "when": "after", "at_call": 3})
    with chaos(crash, strategies=("checkpoint",)) as run:
        graph.invoke(checkout.ORDER, thread("t1"))
        graph.invoke(checkout.ORDER, thread("t2"))  # the same state, another thread: a charge
        # Charged, then crashed: the resume calls the node again with the same state.
        assert graph.invoke(checkout.ORDER, thread("t3")) == REFERENCE

    assert len(checkout.GATEWAY.charges) == 3
    assert [e[2] for e in run.events].count("effect_replayed") == 1


def test_a_node_declared_side_effecting_with_agent_counts_as_one() -> None:
    @agent("charge", side_effect=True)
    def charge(state: dict[str, Any]) -> dict[str, Any]:
        return {"charge_id": checkout.GATEWAY.charge(state["order_id"], state["total"])}

    builder = checkout.build()
    builder.nodes["charge_card"].runnable.func = charge
    graph = instrument(builder.compile(), name="declared")
    info = graph_info(graph)
    assert info is not None
    assert info.side_effects == {"charge_card"}  # declared by its function, not instrument()
    with chaos() as run:
        graph.invoke(checkout.ORDER)
        graph.invoke(checkout.ORDER)

    assert len(checkout.GATEWAY.charges) == 1
    assert "charge" in started(run)


def test_instrumenting_a_state_graph_before_compile_recovers_its_compiled_graphs() -> None:
    graph = instrument(checkout.build()).compile(checkpointer=InMemorySaver())

    with chaos(("crash", {"target": "email", "at_call": 1}), strategies=("checkpoint",)):
        assert graph.invoke(checkout.ORDER, thread()) == REFERENCE


def test_only_the_instrumented_state_graph_compiles_differently() -> None:
    instrument(checkout.build())
    assert "compile" not in vars(checkout.build())
    assert isinstance(checkout.build(), StateGraph)


def test_an_error_handler_that_continues_the_graph_is_the_systems_own_recovery() -> None:
    from langgraph.errors import NodeError
    from langgraph.types import Command

    def payment_failed(state: Any, error: NodeError) -> Command[Any]:
        return Command(update={"status": f"payment failed in {error.node}"}, goto="email")

    builder = checkout.build()
    del builder.nodes["charge_card"]  # the same node again, now with an error handler
    builder.add_node("charge_card", checkout.charge_card, error_handler=payment_failed)
    graph = instrument(builder.compile())

    with chaos(("crash", {"target": "charge_card"})) as run:
        state = graph.invoke(checkout.ORDER)
    (fault,) = run.finish()

    assert state["emails"] == ["A1: payment failed in charge_card"]
    assert fault.outcome is Outcome.RECOVERED
    assert fault.strategy is None
    assert "__error_handler__charge_card" in started(run)


def test_crash_error_takes_a_dotted_path_and_keeps_both_types() -> None:
    from http.client import RemoteDisconnected

    graph = instrument(checkout.build().compile())

    crash = ("crash", {"target": "cart", "error": "http.client.RemoteDisconnected"})
    with chaos(crash), pytest.raises(RemoteDisconnected) as raised:
        graph.invoke(checkout.ORDER)

    assert isinstance(raised.value, AgentCrashed)
    assert raised.value.agent == "cart"


@pytest.mark.parametrize("bad", ["NoSuchError", "os.path", "int", "json.nothing_here"])
def test_crash_error_that_is_not_an_exception_class_is_refused(bad: str) -> None:
    from pytest_agentchaos import parse_fault

    with pytest.raises(ChaosConfigError) as raised:
        parse_fault("crash", {"error": bad})
    assert f"argument error={bad!r}" in str(raised.value)
    assert "'ConnectionError'" in str(raised.value)


def test_wrong_handoff_to_no_destination_of_the_router_is_not_applicable() -> None:
    graph = instrument(checkout.build().compile())

    with chaos(("wrong_handoff", {"target": "route:review", "to": "nowhere"})) as run:
        state = graph.invoke(checkout.ORDER)
    (fault,) = run.finish()

    assert state == REFERENCE
    assert fault.params["detail"] == {
        "not_applicable": "route:review can send only to charge_card, reject"
    }
    assert fault.outcome is Outcome.TOLERATED


def test_hallucination_reaches_into_a_commands_update() -> None:
    graph = instrument(handoff_graph().compile())

    with chaos(("hallucination", {"target": "pick", "field": "log", "value": ["pock"]})) as run:
        state = graph.invoke({"log": []})
    (fault,) = run.finish()

    assert state["log"] == ["pock", "left"]  # corrupted, and still handed off where it meant
    assert fault.params["detail"] == {"field": "update.log"}
    assert fault.outcome is Outcome.SILENT


class Quote(BaseModel):
    sku: str = ""
    qty: int = 0
    price: float = 0.0


def _quote_graph() -> Any:
    def quote(state: Quote) -> dict[str, Any]:
        return {"price": round(checkout.PRICES[state.sku] * state.qty, 2)}

    graph = StateGraph(Quote)
    graph.add_node("quote", quote)
    graph.add_edge(START, "quote")
    graph.add_edge("quote", END)
    return instrument(graph.compile())


def test_memory_wipe_hands_a_pydantic_state_node_a_model_with_nothing_set() -> None:
    graph = _quote_graph()
    assert graph.invoke(Quote(sku="mug", qty=2))["price"] == 25.0

    with chaos(("memory_wipe", {"target": "quote"})) as run, pytest.raises(KeyError, match="''"):
        graph.invoke(Quote(sku="mug", qty=2))
    (fault,) = run.finish()

    assert fault.params["detail"] == {"wiped": "state argument"}
    assert fault.outcome is Outcome.UNRECOVERED


def test_declaring_a_side_effect_on_a_graph_instrumented_before_is_never_dropped() -> None:
    """chaos_langgraph = auto instruments first; a later instrument(side_effects=...) adds."""
    compiled = checkout.build().compile(checkpointer=InMemorySaver())
    instrument(compiled)
    graph = instrument(compiled, side_effects=["charge_card"])
    info = graph_info(graph)
    assert info is not None
    assert info.side_effects == {"charge_card"}
    assert info.nodes.count("charge_card") == 1

    crash = ("crash", {"target": "charge_card", "when": "after", "at_call": 1})
    with chaos(crash, strategies=("checkpoint",)) as run:
        assert graph.invoke(checkout.ORDER, thread("once")) == REFERENCE

    assert len(checkout.GATEWAY.charges) == 1  # charged, crashed, resumed: not charged again
    assert [e[2] for e in run.events].count("effect_replayed") == 1
