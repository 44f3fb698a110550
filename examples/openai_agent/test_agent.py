"""Chaos tests of the support agent: which API failures its design survives, and which not.

Run them twice, from this folder:

    pytest                            # steady state: the chaos markers are inert
    pytest --chaos --chaos-seed=1234  # the faults fire in the client's HTTP transport

Every test passes both ways. The faults act under the real OpenAI SDK, so its own retries and
timeouts run; each test then asserts what became of its fault (recovered, unrecovered, silent or
tolerated). Without ``--chaos`` the ``agentchaos`` fixture is inert and the same test checks the
steady state.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from local_model import respond
from support_agent import FALLBACK_MODEL, MODEL, ORDERS, Answer, ModelUnavailable, answer

from pytest_agentchaos import Outcome
from pytest_agentchaos.testing.openai_server import LocalOpenAIServer

QUESTION = "Hi! Where is my order A-1001?"
ORDER = ORDERS["A-1001"]


def assert_correct(result: Answer) -> None:
    assert (result.order_id, result.status, result.eta_days) == ("A-1001", "shipped", 2)
    assert result.reply == "Order A-1001 is shipped; expect it in 2 days."


def test_the_agent_looks_the_order_up_and_answers(agentchaos, client, server):
    result = answer(client, QUESTION)

    assert_correct(result)
    assert result.model == MODEL
    first, second = server.requests
    assert first["tools"][0]["function"]["name"] == "lookup_order"
    assert second["messages"][-1]["role"] == "tool"
    assert agentchaos.faults() == []


# recovered by the SDK: a 429 retried after its Retry-After -----------------------------------
@pytest.mark.chaos_api_error(target="llm", error="rate_limit", retry_after=0.05, at_call=1)
def test_rate_limit_is_retried_by_the_sdk(agentchaos, client, server):
    result = answer(client, QUESTION)

    assert_correct(result)
    assert len(server.requests) == 2  # the injected 429 never reached the server
    agentchaos.assert_recovered("llm", within=1.0)


# recovered by the SDK: a timeout that honours the client's own timeout -----------------------
@pytest.mark.chaos_api_error(target="llm", error="timeout", at_call=1)
def test_timeout_waits_for_the_client_timeout_and_is_retried(agentchaos, make_client):
    client = make_client(timeout=0.25, max_retries=1)

    started = time.monotonic()
    result = answer(client, QUESTION)
    elapsed = time.monotonic() - started

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    if agentchaos.enabled:
        [fault] = agentchaos.faults()
        assert fault.mttd_s is not None
        assert fault.mttd_s >= 0.25  # the request hung for the client's read timeout
        assert elapsed >= 0.25


# recovered by the agent: with max_retries=0 a 503 reaches the agent, which falls back --------
@pytest.mark.chaos_api_error(target="llm", error="server_error", status=503, at_call=1)
def test_overload_is_made_good_by_the_fallback_model(agentchaos, make_client, server):
    result = answer(make_client(max_retries=0), QUESTION)

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    if agentchaos.enabled:
        assert result.model == FALLBACK_MODEL
        assert [r["model"] for r in server.requests] == [FALLBACK_MODEL, FALLBACK_MODEL]


# recovered by the agent: a body that is not JSON (the SDK does not retry it) -----------------
@pytest.mark.chaos_api_error(target="llm", error="malformed_json", at_call=1)
def test_malformed_body_is_made_good_by_the_fallback_model(agentchaos, client):
    result = answer(client, QUESTION)

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    if agentchaos.enabled:
        assert result.model == FALLBACK_MODEL
        [error] = agentchaos.events("call_error", agent="model")
        assert error.payload["error"].startswith("JSONDecodeError")


# unrecovered: both models down; the agent gives up and says so --------------------------------
@pytest.mark.chaos_api_error(target="llm", error="server_error", status=503)  # every request
def test_outage_of_both_models_is_unrecovered(agentchaos, make_client):
    client = make_client(max_retries=0)
    if not agentchaos.enabled:
        assert_correct(answer(client, QUESTION))
        return

    with pytest.raises(ModelUnavailable, match=f"{FALLBACK_MODEL} is down too"):
        answer(client, QUESTION)

    faults = agentchaos.faults()
    assert [f.outcome for f in faults] == [Outcome.UNRECOVERED, Outcome.UNRECOVERED]


# recovered by the agent: a refusal, asked again ----------------------------------------------
@pytest.mark.chaos_refusal(target="llm", at_call=1)
def test_refusal_is_asked_again(agentchaos, client, server):
    result = answer(client, QUESTION)

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    if agentchaos.enabled:
        assert len(server.requests) == 3  # the refused answer, the retry, the final answer


# recovered by the agent: output cut at the token limit, asked again with more tokens ---------
@pytest.mark.chaos_token_limit(target="llm", at_call=2)
def test_truncated_answer_is_asked_again_with_more_tokens(agentchaos, client, server):
    result = answer(client, QUESTION)

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    if agentchaos.enabled:
        assert [r["max_tokens"] for r in server.requests] == [200, 200, 400]


# recovered by the agent: a hallucinated status, caught by its check --------------------------
@pytest.mark.chaos_hallucination(target="llm", field="status", at_call=2)
def test_wrong_status_is_caught_by_the_check(agentchaos, client):
    result = answer(client, QUESTION)

    assert_correct(result)
    agentchaos.assert_recovered("llm")
    agentchaos.assert_no_silent()


# silent: a hallucinated delivery estimate that nothing checks --------------------------------
@pytest.mark.chaos_hallucination(target="llm", field="eta_days", at_call=2)
def test_wrong_delivery_estimate_goes_unnoticed(agentchaos, client):
    result = answer(client, QUESTION)

    assert (result.order_id, result.status) == ("A-1001", "shipped")
    if not agentchaos.enabled:
        assert result.eta_days == ORDER["eta_days"]
        return
    # This test documents a gap: check_answer does not compare eta_days with the order, so the
    # customer is told a wrong date. Add that check and this fault turns "recovered".
    [fault] = agentchaos.faults("hallucination")
    assert fault.outcome is Outcome.SILENT
    assert fault.params["detail"] == {"field": "content.eta_days"}
    assert result.eta_days != ORDER["eta_days"]


# tolerated: a small delay on every request, well within the timeout --------------------------
@pytest.mark.chaos_delay(target="llm", seconds=0.02)
def test_small_delays_are_tolerated(agentchaos, client):
    assert_correct(answer(client, QUESTION))

    faults = agentchaos.faults()
    assert all(f.outcome is Outcome.TOLERATED for f in faults)
    assert len(faults) == (2 if agentchaos.enabled else 0)


# replayed: the conversation recorded once in a cassette, with no server ----------------------
NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens here: the replay must not need a server


@pytest.fixture
def recorded_url(agentchaos_cassette) -> Iterator[str]:
    """No server to replay; a local one to record (``--chaos-record-mode=all``)."""
    if agentchaos_cassette.record_mode == "none":
        yield NOWHERE
        return
    with LocalOpenAIServer(respond) as local:
        yield local.base_url


@pytest.mark.chaos_cassette("cassettes/order_status.yaml")
@pytest.mark.chaos_api_error(target="llm", error="rate_limit", retry_after=0.05, at_call=1)
def test_recorded_conversation_replays_offline(
    agentchaos, agentchaos_cassette, agentchaos_openai, recorded_url
):
    client = agentchaos_openai(recorded_url, name="llm", max_retries=2)

    assert_correct(answer(client, QUESTION))
    # The injected 429 comes before the cassette, so it uses up no recorded answer.
    agentchaos.assert_recovered("llm")
    if agentchaos_cassette.record_mode == "none":
        assert (agentchaos_cassette.play_count, agentchaos_cassette.all_played) == (2, True)
