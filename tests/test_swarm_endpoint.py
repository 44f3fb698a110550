"""ecommerce_swarm against an OpenAI-compatible endpoint (``OPENAI_BASE_URL``): the real OpenAI
SDK, through the OpenAI integration, to a local server playing the model; LLM faults act at the
HTTP transport of each agent's client (``<agent>.llm``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecommerce_swarm import Swarm, load_scenario
from ecommerce_swarm.llm import EndpointModel, OfflineModel
from pytest_agentchaos.testing.openai_server import ChatReply, LocalOpenAIServer

pytest.importorskip("openai")

PLAYED = OfflineModel(seed=3)


def play_the_model(request: dict[str, Any]) -> ChatReply:
    """Answer the swarm's prompt ("Task: <task>. ... inputs: <json>") as the offline model would."""
    prompt = request["messages"][-1]["content"]
    task = prompt.removeprefix("Task: ").split(".", 1)[0]
    inputs = json.loads(prompt.split("inputs: ", 1)[1])
    return ChatReply(content=json.dumps(PLAYED.complete(task, inputs)))


@pytest.fixture
def endpoint(monkeypatch):
    with LocalOpenAIServer(play_the_model) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        yield server


def test_the_swarm_uses_the_endpoint_when_configured(endpoint):
    scenario = load_scenario("product_launch_campaign").with_volume(2)
    with Swarm(scenario, seed=3) as swarm:
        assert all(isinstance(a.model, EndpointModel) for a in swarm.agents.values())
        result = swarm.run()
    with Swarm(scenario, seed=3, model=PLAYED) as offline:
        expected = offline.run()
    assert result.to_json() == expected.to_json()  # same answers, over HTTP
    tasks = {r["messages"][-1]["content"].split(".")[0] for r in endpoint.requests}
    assert tasks == {"Task: listing", "Task: pricing", "Task: marketing", "Task: summary"}
    assert all(r["response_format"] == {"type": "json_object"} for r in endpoint.requests)


ENDPOINT_CHAOS = """
import json

import pytest

from ecommerce_swarm import Swarm, load_scenario
from ecommerce_swarm.llm import OfflineModel
from pytest_agentchaos.testing.openai_server import ChatReply, LocalOpenAIServer

PLAYED = OfflineModel(seed=3)


def play(request):
    prompt = request["messages"][-1]["content"]
    task = prompt.removeprefix("Task: ").split(".", 1)[0]
    inputs = json.loads(prompt.split("inputs: ", 1)[1])
    return ChatReply(content=json.dumps(PLAYED.complete(task, inputs)))


@pytest.fixture
def swarm(monkeypatch):
    with LocalOpenAIServer(play) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        with Swarm(load_scenario("vendor_onboarding").with_volume(2), seed=3) as swarm:
            yield swarm


@pytest.mark.chaos_api_error(target="pricing.llm", status=503, times=1)
def test_a_5xx_is_retried_by_the_sdk(agentchaos, swarm):
    assert len(swarm.run().state["prices"]) == 2
    agentchaos.assert_recovered("pricing.llm")


@pytest.mark.chaos_hallucination(target="pricing.llm", field="price", times=1)
def test_a_hallucinated_price_from_the_endpoint_is_refused(agentchaos, swarm):
    swarm.run()
    agentchaos.assert_no_silent()
    if agentchaos.enabled:
        [fault] = agentchaos.faults()
        assert fault.detected_by.startswith("pricing refused its model's answer")
"""


def test_llm_faults_act_on_the_endpoint_traffic(pytester):
    pytester.makepyfile(test_endpoint_chaos=ENDPOINT_CHAOS)
    result = pytester.runpytest(
        "--chaos",
        "--chaos-seed=5",
        f"--chaos-db={pytester.path / 'events.db'}",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=2)


def test_recorded_endpoint_traffic_replays_without_the_endpoint(tmp_path, monkeypatch):
    from pytest_agentchaos.integrations.cassettes import use_cassette

    cassette = tmp_path / "launch.yaml"
    scenario = load_scenario("vendor_onboarding").with_volume(2)
    with LocalOpenAIServer(play_the_model) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        with use_cassette(cassette, record_mode="once"), Swarm(scenario, seed=3) as swarm:
            recorded = swarm.run()
        asked = len(server.requests)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    with use_cassette(cassette, record_mode="none"), Swarm(scenario, seed=3) as swarm:
        replayed = swarm.run()
    assert asked == 5  # 2 listings, 2 prices, 1 summary
    assert replayed.to_json() == recorded.to_json()
    assert "authorization" not in cassette.read_text().lower()
