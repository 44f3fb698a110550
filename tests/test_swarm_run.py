"""ecommerce_swarm without chaos: reproducible byte for byte, bad input refused at intake,
business invariants kept, and every receiver checking what it gets."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from ecommerce_swarm import HandoffFailed, Swarm, load_scenario, scenario_names
from ecommerce_swarm.__main__ import main
from ecommerce_swarm.llm import OfflineModel
from ecommerce_swarm.ontology import category
from pytest_agentchaos import Message, MessageType


def run(name: str, seed: int, volume: int | None = None, **options: Any) -> Any:
    scenario = load_scenario(name)
    if volume is not None:
        scenario = scenario.with_volume(volume)
    with Swarm(scenario, seed=seed, **options) as swarm:
        return swarm.run()


@pytest.mark.parametrize("name", scenario_names())
def test_one_seed_gives_byte_identical_state_and_output(name):
    first, second = run(name, seed=7), run(name, seed=7)
    assert first.to_json() == second.to_json()
    assert first.log == second.log
    assert run(name, seed=8).to_json() != first.to_json()  # the seed matters


def test_the_command_line_prints_the_same_bytes_in_a_fresh_process(capsys):
    arguments = ["--scenario", "product_launch_campaign", "--products", "20", "--seed", "7"]
    env = {**os.environ, "PYTHONHASHSEED": "1"}  # another hash seed than this process's
    fresh = subprocess.run(
        [sys.executable, "-m", "ecommerce_swarm", *arguments],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    assert main(arguments) == 0
    assert capsys.readouterr().out == fresh
    lines = fresh.splitlines()
    assert lines[0].startswith("scenario product_launch_campaign · seed 7 · 20 products")
    for agent in ("intake", "listing", "pricing", "inventory", "marketing", "analytics"):
        assert any(line.startswith(agent) for line in lines), agent
    assert "publish    20 products published" in fresh
    assert "steady     5 checks hold: valid_products_published" in fresh


def test_the_command_line_refuses_a_bad_volume(capsys):
    assert main(["--products", "0"]) == 2
    assert "volume 0" in capsys.readouterr().err


def test_bad_products_are_rejected_at_intake_with_task_fail_and_never_published():
    scenario = load_scenario("product_launch_campaign")
    with Swarm(scenario, seed=1) as swarm:
        good = swarm.products()[:2]
        negative = {**good[0], "sku": "SPO-9001", "cost": -4.0}
        no_sku = {key: value for key, value in good[1].items() if key != "sku"}
        result = swarm.run([*good, negative, no_sku])
        notices = swarm.vendor_notices
    assert result.state["published"] == [good[0]["sku"], good[1]["sku"]]
    rejected = result.state["rejected"]
    assert [r["sku"] for r in rejected] == ["SPO-9001", None]
    assert "cost" in rejected[0]["reason"]
    assert "sku" in rejected[1]["reason"]
    assert [n.header.type for n in notices] == [MessageType.TASK_FAIL] * 2
    assert all(n.header.receiver == "vendor" for n in notices)
    assert "SPO-9001" not in result.state["prices"]


def test_business_invariants_hold_in_every_scenario():
    for name in scenario_names():
        state = run(name, seed=3).state
        for sku, price in state.get("prices", {}).items():
            product = next(p for p in state["products"] if p["sku"] == sku)
            bounds = category(product["category"])
            assert bounds.min_price <= price["price"] <= bounds.max_price
            assert price["price"] > product["cost"]
        for record in state.get("stock", {}).values():
            assert record["available"] >= 0
            assert record["available"] == record["on_hand"] - record["reserved"]
        for sku, campaign in state.get("campaigns", {}).items():
            assert campaign["advertised_price"] == state["prices"][sku]["price"]
            assert campaign["active"] == (state["stock"][sku]["available"] > 0)
        report = state["report"]
        assert report["total_units"] == sum(line["units_available"] for line in report["lines"])


def test_inventory_crisis_pauses_campaigns_for_sold_out_products():
    state = run("inventory_crisis", seed=0).state
    sold_out = {sku for sku, record in state["stock"].items() if record["available"] == 0}
    assert sold_out, "the crisis scenario should leave something sold out"
    assert not sold_out & set(state["published"])


class LyingModel(OfflineModel):
    """Quotes a price 20% off what its own cost and markup say: a hallucination, every time."""

    def complete(self, task: str, inputs: dict[str, Any]) -> dict[str, Any]:
        answer = super().complete(task, inputs)
        if task == "pricing":
            answer["price"] = round(answer["price"] * 0.8, 2)
        return answer


def test_a_hallucinated_price_is_refused_not_published():
    scenario = load_scenario("product_launch_campaign").with_volume(2)
    with Swarm(scenario, seed=1, model=LyingModel(1), retries=1) as swarm:
        with pytest.raises(HandoffFailed, match="no valid answer in 3 asks; last: price_markup"):
            swarm.run()
        assert swarm.agents["pricing"].tasks_handled == 2  # the lead asked again once
        state = swarm.graph.get_state(swarm.config("run"))
        assert state.next == ("pricing",)
        assert "campaigns" not in state.values


def test_an_agent_refuses_a_corrupted_or_misaddressed_task():
    scenario = load_scenario("vendor_onboarding").with_volume(1)
    with Swarm(scenario, seed=1) as swarm:
        pricing = swarm.agents["pricing"]
        task = Message.create(
            MessageType.TASK_ASSIGN,
            "lead",
            "pricing",
            task="quote_price",
            parameters={"items": swarm.products()},
        )
        assert pricing.handle(task).header.type is MessageType.TASK_COMPLETE
        tampered = task.model_copy(
            update={"body": task.body.model_copy(update={"parameters": {"items": []}})}
        )
        reply = pricing.handle(tampered)
        assert reply.header.type is MessageType.TASK_FAIL
        assert "semantic_hash mismatch" in str(reply.body.parameters["reason"])
        wrong_task = Message.create(
            MessageType.TASK_ASSIGN, "lead", "pricing", task="write_copy", parameters={"items": []}
        )
        assert "accepts TASK_ASSIGN 'quote_price'" in str(
            pricing.handle(wrong_task).body.parameters["reason"]
        )
        bad_item = Message.create(
            MessageType.TASK_ASSIGN,
            "lead",
            "pricing",
            task="quote_price",
            parameters={"items": [{"sku": "X"}]},
        )
        reason = str(pricing.handle(bad_item).body.parameters["reason"])
        assert reason.startswith("pricing rejected its input:")


def test_the_handshake_maps_synonyms_and_keeps_conflicts_apart_lexically():
    scenario = load_scenario("product_launch_campaign").with_volume(1)
    with Swarm(scenario, seed=1, embedder_kind="lexical") as swarm:
        swarm.run()
        agreement = swarm.agreements["marketing"]
    assert agreement.sender == "inventory"
    assert agreement.embedder.startswith("lexical")
    assert "quantity on hand" not in agreement.mapping


def test_steady_state_checks_name_what_a_tampered_state_breaks():
    from ecommerce_swarm.steady_state import CHECKS, violations

    state = run("product_launch_campaign", seed=2, volume=3).state
    assert violations(state, CHECKS) == []
    sku = state["published"][0]
    state["campaigns"][sku]["advertised_price"] += 1.0
    state["stock"][sku]["available"] = -1
    state["report"]["total_units"] += 1
    found = violations(state, CHECKS)
    assert [problem.split(":")[0] for problem in found] == [
        "stock_never_negative",
        "campaigns_match_prices",
        "report_totals_match",
    ]
    assert sku in found[1]
