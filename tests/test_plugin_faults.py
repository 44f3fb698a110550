"""Acceptance tests, run from outside with pytester: what each agent-layer fault does under
``--chaos``, for function, async, method and callable-object agents, and the outcome recorded
for it in the JSON report.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import json_report

CHAOS = ("--chaos", "--chaos-report=r.json", "-p", "no:cacheprovider")


def run_chaos(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_agents=source)
    return pytester.runpytest(*CHAOS, *args)


def report(pytester: pytest.Pytester) -> dict[str, Any]:
    return json_report(pytester.path / "r.json")


def faults_by_test(pytester: pytest.Pytester) -> dict[str, list[tuple[str, str, str]]]:
    """nodeid -> [(kind, target, outcome)] from the JSON report."""
    return {
        t["nodeid"].split("::")[-1]: [(f["kind"], f["target"], f["outcome"]) for f in t["faults"]]
        for t in report(pytester)["tests"]
    }


# ------------------------------------------------------------------------------- crash
def test_crash_before_means_the_body_never_ran_and_after_means_it_did(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed, InjectedFault

        ran = []

        @agent("pricing")
        def price(state):
            ran.append(state["n"])
            return {"price": 10.0}

        @pytest.mark.chaos_crash(target="pricing", at_call=1)
        def test_before():
            ran.clear()
            with pytest.raises(AgentCrashed) as info:
                price({"n": 1})
            assert isinstance(info.value, InjectedFault)
            assert info.value.agent == "pricing"
            assert ran == []
            assert price({"n": 2}) == {"price": 10.0}
            assert ran == [2]

        @pytest.mark.chaos_crash(target="pricing", when="after", at_call=1)
        def test_after():
            ran.clear()
            with pytest.raises(AgentCrashed):
                price({"n": 1})
            assert ran == [1]

        @pytest.mark.chaos_crash(target="pric*", at_call=[2, 4])
        def test_glob_and_call_list():
            got = []
            for n in range(1, 6):
                try:
                    got.append(price({"n": n})["price"])
                except AgentCrashed:
                    got.append("crash")
            assert got == [10.0, "crash", 10.0, "crash", 10.0]

        @pytest.mark.chaos_crash(target="pricing", times=2)
        def test_times_caps_firings(agentchaos):
            got = []
            for n in range(1, 5):
                try:
                    got.append(price({"n": n})["price"])
                except AgentCrashed:
                    got.append("crash")
            assert got == ["crash", "crash", 10.0, 10.0]
            assert [f.call_number for f in agentchaos.faults()] == [1, 2]

        @pytest.mark.chaos_crash(target="other")
        def test_other_target_is_not_hit():
            assert price({"n": 1}) == {"price": 10.0}
        """,
    )
    result.assert_outcomes(passed=5)
    faults = faults_by_test(pytester)
    assert faults["test_before"] == [("crash", "pricing", "recovered")]
    assert faults["test_after"] == [("crash", "pricing", "unrecovered")]
    assert faults["test_glob_and_call_list"] == [("crash", "pricing", "recovered")] * 2
    assert faults["test_times_caps_firings"] == [("crash", "pricing", "recovered")] * 2
    assert faults["test_other_target_is_not_hit"] == []
    result.stdout.fnmatch_lines(
        ["*warning: *test_other_target_is_not_hit*chaos_crash*never fired*"]
    )


# -------------------------------------------------------------------------- hang, loop
def test_hang_and_infinite_loop_raise_timeout_errors_after_the_deadline(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import time
        import pytest
        from pytest_agentchaos import agent, AgentHung, AgentLooping

        ran = []

        @agent("slow")
        def slow():
            ran.append(1)
            return "done"

        @pytest.mark.chaos_settings(deadline=0.05)
        @pytest.mark.chaos_hang(target="slow", at_call=1)
        def test_hang():
            ran.clear()
            start = time.monotonic()
            with pytest.raises(TimeoutError) as info:
                slow()
            elapsed = time.monotonic() - start
            assert type(info.value) is AgentHung
            assert 0.05 <= elapsed < 0.5, elapsed
            assert ran == []
            assert slow() == "done"

        @pytest.mark.chaos_hang(target="slow", at_call=1, seconds=0.06)
        def test_hang_seconds_argument():
            start = time.monotonic()
            with pytest.raises(AgentHung):
                slow()
            assert 0.06 <= time.monotonic() - start < 0.5

        @pytest.mark.chaos_settings(deadline=0.05)
        @pytest.mark.chaos_infinite_loop(target="slow", at_call=1)
        def test_loop():
            start = time.monotonic()
            with pytest.raises(TimeoutError) as info:
                slow()
            assert type(info.value) is AgentLooping
            assert 0.05 <= time.monotonic() - start < 0.5
        """,
    )
    result.assert_outcomes(passed=3)
    faults = faults_by_test(pytester)
    assert faults == {
        "test_hang": [("hang", "slow", "recovered")],
        "test_hang_seconds_argument": [("hang", "slow", "unrecovered")],
        "test_loop": [("infinite_loop", "slow", "unrecovered")],
    }


def test_command_line_deadline_beats_the_marker(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import time
        import pytest
        from pytest_agentchaos import agent, AgentHung

        @agent("slow")
        def slow():
            return "done"

        @pytest.mark.chaos_settings(deadline=2.0)
        @pytest.mark.chaos_hang(target="slow")
        def test_hang():
            start = time.monotonic()
            with pytest.raises(AgentHung):
                slow()
            assert 0.05 <= time.monotonic() - start < 1.0
        """,
        "--chaos-deadline=0.05",
    )
    result.assert_outcomes(passed=1)


# ------------------------------------------------------------------------------- delay
def test_delay_slows_the_call_and_is_tolerated(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import time
        import pytest
        from pytest_agentchaos import agent

        @agent("search")
        def search(q):
            return [q]

        @pytest.mark.chaos_delay(target="search", seconds=0.05, at_call=2)
        def test_delay():
            start = time.monotonic()
            assert search("a") == ["a"]
            first = time.monotonic() - start
            start = time.monotonic()
            assert search("b") == ["b"]
            second = time.monotonic() - start
            assert first < 0.05 <= second < 0.5
        """,
    )
    result.assert_outcomes(passed=1)
    data = report(pytester)
    assert faults_by_test(pytester) == {"test_delay": [("delay", "search", "tolerated")]}
    assert data["totals"]["tolerated"] == 1
    assert data["totals"]["recovery_rate"] is None


# ------------------------------------------------------------------------- memory_wipe
def test_memory_wipe_clears_an_object_agents_memory_and_a_function_agents_state(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent

        class Chat:
            def __init__(self):
                self.memory = {"name": "Ada", "topic": "pricing"}

            @agent("chat")
            def answer(self, question):
                return self.memory.get("name", "who are you?")

        @agent("planner")
        def plan(state):
            return {"steps": len(state), "seen": sorted(state)}

        @pytest.mark.chaos_memory_wipe(target="chat", at_call=2)
        def test_object_agent():
            chat = Chat()
            assert chat.answer("name?") == "Ada"
            assert chat.answer("name?") == "who are you?"
            assert chat.memory == {}

        @pytest.mark.chaos_memory_wipe(target="planner", at_call=1)
        def test_function_agent():
            state = {"a": 1, "b": 2}
            assert plan(state) == {"steps": 0, "seen": []}
            assert state == {"a": 1, "b": 2}
            assert plan(state) == {"steps": 2, "seen": ["a", "b"]}
        """,
    )
    result.assert_outcomes(passed=2)
    assert faults_by_test(pytester) == {
        "test_object_agent": [("memory_wipe", "chat", "silent")],
        "test_function_agent": [("memory_wipe", "planner", "silent")],
    }


# ----------------------------------------------------------------------- hallucination
HALLUCINATION = """
import pytest
from pytest_agentchaos import agent

@agent("pricing")
def price(sku):
    return {"sku": sku, "price": 10.0, "currency": "EUR", "stock": 3}

@agent("checker")
def check(offer):
    if offer["price"] != 10.0:
        raise ValueError(f"implausible price {offer['price']}")
    return offer

@pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
def test_silent():
    offer = price("A1")
    assert isinstance(offer["price"], float)
    assert offer["price"] != 10.0
    assert offer["sku"] == "A1" and offer["currency"] == "EUR" and offer["stock"] == 3

@pytest.mark.chaos_hallucination(target="pricing", field="stock", at_call=1)
def test_int_field_keeps_its_type():
    offer = price("A1")
    assert type(offer["stock"]) is int and offer["stock"] != 3

@pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
def test_unrecovered_when_the_test_fails():
    assert price("A1")["price"] == 10.0

@pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
def test_recovered(agentchaos):
    offer = price("A1")
    with pytest.raises(ValueError):
        check(offer)
    offer = price("A1")
    assert check(offer)["price"] == 10.0
    agentchaos.assert_recovered("pricing", within=5.0)
"""


def test_hallucination_outcomes_silent_unrecovered_recovered(pytester: pytest.Pytester) -> None:
    result = run_chaos(pytester, HALLUCINATION)
    result.assert_outcomes(passed=3, failed=1)
    assert faults_by_test(pytester) == {
        "test_silent": [("hallucination", "pricing", "silent")],
        "test_int_field_keeps_its_type": [("hallucination", "pricing", "silent")],
        "test_unrecovered_when_the_test_fails": [("hallucination", "pricing", "unrecovered")],
        "test_recovered": [("hallucination", "pricing", "recovered")],
    }
    (row,) = report(pytester)["rows"]
    assert (row["injected"], row["recovered"], row["unrecovered"], row["silent"]) == (4, 1, 1, 2)
    # only the checker's first call received the corrupted price
    assert row["propagation"] == 1


def test_hallucination_in_a_pydantic_model_keeps_model_and_type(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pydantic import BaseModel
        from pytest_agentchaos import agent

        class Offer(BaseModel):
            sku: str
            price: float
            currency: str

        class Listing(BaseModel):
            offer: Offer
            title: str

        GOOD = Listing(offer=Offer(sku="A1", price=10.0, currency="EUR"), title="Blue")

        @agent("pricing")
        def price():
            return GOOD.model_copy(deep=True)

        @pytest.mark.chaos_hallucination(target="pricing", field="offer.price")
        def test_nested_field():
            out = price()
            assert isinstance(out, Listing) and isinstance(out.offer, Offer)
            assert isinstance(out.offer.price, float) and out.offer.price != 10.0
            assert (out.offer.sku, out.offer.currency, out.title) == ("A1", "EUR", "Blue")
            assert GOOD.offer.price == 10.0

        @pytest.mark.chaos_hallucination(target="pricing")
        def test_some_field():
            assert price() != GOOD

        @pytest.mark.chaos_hallucination(target="pricing", field="offer.currency", value="USD")
        def test_given_value():
            assert price().offer.currency == "USD"
        """,
    )
    result.assert_outcomes(passed=3)
    assert {f for fs in faults_by_test(pytester).values() for f in fs} == {
        ("hallucination", "pricing", "silent")
    }


def test_hallucination_that_changes_nothing_is_not_silent(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent

        @agent("pricing")
        def price():
            return {"price": 10.0}

        @pytest.mark.chaos_hallucination(target="pricing", field="discount", at_call=1)
        def test_nothing_to_corrupt():
            assert price() == {"price": 10.0}
        """,
    )
    result.assert_outcomes(passed=1)
    totals = report(pytester)["totals"]
    assert (totals["injected"], totals["silent"], totals["tolerated"]) == (1, 0, 1)
    assert faults_by_test(pytester) == {
        "test_nothing_to_corrupt": [("hallucination", "pricing", "tolerated")]
    }


# ------------------------------------------------------------- refusal, token_limit, skip
def test_refusal_token_limit_and_skip_step(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent, AgentRefused, InjectedFault

        ran = []

        @agent("llm")
        def complete(prompt):
            return "abcdefghij"

        @agent("copy")
        def write(product):
            return {"title": "Blue", "body": "a long marketing text", "n": 7}

        @agent("enrich")
        def enrich(state):
            ran.append(1)
            return {**state, "enriched": True}

        @pytest.mark.chaos_refusal(target="llm", at_call=1)
        def test_refusal():
            with pytest.raises(AgentRefused) as info:
                complete("hi")
            assert isinstance(info.value, InjectedFault)
            assert not isinstance(info.value, TimeoutError)
            assert "refused" in str(info.value)
            assert complete("hi") == "abcdefghij"

        @pytest.mark.chaos_token_limit(target="llm")
        def test_token_limit_string():
            assert complete("hi") == "abcde"

        @pytest.mark.chaos_token_limit(target="copy", keep=0.25)
        def test_token_limit_longest_field():
            out = write("x")
            assert out["title"] == "Blue" and out["n"] == 7
            assert out["body"] == "a long marketing text"[:5]

        @pytest.mark.chaos_skip_step(target="enrich", at_call=1)
        def test_skip_step():
            ran.clear()
            state = {"sku": "A1"}
            assert enrich(state) is state
            assert ran == []
            assert enrich(state) == {"sku": "A1", "enriched": True}
            assert ran == [1]
        """,
    )
    result.assert_outcomes(passed=4)
    assert faults_by_test(pytester) == {
        "test_refusal": [("refusal", "llm", "recovered")],
        "test_token_limit_string": [("token_limit", "llm", "silent")],
        "test_token_limit_longest_field": [("token_limit", "copy", "silent")],
        "test_skip_step": [("skip_step", "enrich", "silent")],
    }


# --------------------------------------------------------------------------------- async
def test_async_agents_crash_and_delay(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import asyncio
        import time
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        ran = []

        @agent("marketing")
        async def write_copy(state):
            ran.append(state["n"])
            await asyncio.sleep(0)
            return {"copy": "buy"}

        @pytest.mark.chaos_crash(target="marketing", at_call=1)
        def test_async_crash(agentchaos):
            async def main():
                with pytest.raises(AgentCrashed):
                    await write_copy({"n": 1})
                return await write_copy({"n": 2})
            assert asyncio.run(main()) == {"copy": "buy"}
            assert ran == [2]
            agentchaos.assert_recovered("marketing")

        @pytest.mark.chaos_delay(target="marketing", seconds=0.05)
        def test_async_delay():
            start = time.monotonic()
            assert asyncio.run(write_copy({"n": 3})) == {"copy": "buy"}
            assert 0.05 <= time.monotonic() - start < 0.5
        """,
    )
    result.assert_outcomes(passed=2)
    assert faults_by_test(pytester) == {
        "test_async_crash": [("crash", "marketing", "recovered")],
        "test_async_delay": [("delay", "marketing", "tolerated")],
    }


def test_async_hang_cancelled_by_the_caller_is_detected(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import asyncio
        import pytest
        from pytest_agentchaos import agent

        @agent("slow")
        async def slow():
            return 1

        @pytest.mark.chaos_hang(target="slow", at_call=1, seconds=5)
        def test_caller_timeout():
            async def main():
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(slow(), 0.05)
                return await slow()
            assert asyncio.run(main()) == 1
        """,
    )
    result.assert_outcomes(passed=1)
    assert faults_by_test(pytester) == {"test_caller_timeout": [("hang", "slow", "recovered")]}


# ------------------------------------------------------------------------------- wrap()
def test_wrap_a_method_and_a_callable_object(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent, wrap, AgentCrashed

        class Pricer:
            def __init__(self):
                self.memory = {"last": 1}

            def quote(self, n):
                return n * 2

        class Scorer:
            def __call__(self, x):
                return x + 1

        original_quote = Pricer.quote

        @pytest.mark.chaos_crash(target="pricing", at_call=1)
        def test_method(agentchaos):
            agentchaos.wrap(Pricer.quote, "pricing")
            assert Pricer.quote is not original_quote
            pricer = Pricer()
            with pytest.raises(AgentCrashed):
                pricer.quote(2)
            assert pricer.quote(2) == 4
            agentchaos.assert_recovered("pricing")

        @pytest.mark.chaos_crash(target="pricing")
        def test_method_patch_was_undone(agentchaos):
            assert Pricer.quote is original_quote
            assert Pricer().quote(3) == 6

        @pytest.mark.chaos_memory_wipe(target="pricing", at_call=1)
        def test_method_memory_wipe():
            with wrap(Pricer.quote, "pricing"):
                pricer = Pricer()
                assert pricer.quote(1) == 2
                assert pricer.memory == {}
            assert Pricer.quote is original_quote

        @pytest.mark.chaos_crash(target="scorer", at_call=2)
        def test_callable_object(agentchaos):
            scorer = Scorer()
            proxy = agentchaos.wrap(scorer, "scorer")
            assert isinstance(proxy, Scorer)
            assert proxy(1) == 2
            with pytest.raises(AgentCrashed):
                proxy(1)
            assert agentchaos.calls("scorer") == 2
        """,
    )
    result.assert_outcomes(passed=4)
    assert faults_by_test(pytester) == {
        "test_method": [("crash", "pricing", "recovered")],
        "test_method_patch_was_undone": [],
        "test_method_memory_wipe": [("memory_wipe", "pricing", "silent")],
        "test_callable_object": [("crash", "scorer", "unrecovered")],
    }


def test_memory_wipe_of_a_callable_object_agent(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent

        class Bot:
            def __init__(self):
                self.memory = {"name": "Ada"}

            def __call__(self, question):
                return self.memory.get("name", "?")

        @pytest.mark.chaos_memory_wipe(target="bot", at_call=2)
        def test_wrapped(agentchaos):
            bot = Bot()
            proxy = agentchaos.wrap(bot, "bot")
            assert proxy("name?") == "Ada"
            assert proxy("name?") == "?"
            assert bot.memory == {}

        @pytest.mark.chaos_memory_wipe(target="bot2", at_call=1)
        def test_decorated():
            bot = Bot()
            marked = agent("bot2")(bot)
            assert marked("name?") == "?"
        """,
    )
    result.assert_outcomes(passed=2)


def test_wrap_by_attribute_on_a_class_and_static_and_class_methods(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import AgentCrashed

        class Svc:
            def run(self, x):
                return x

            @staticmethod
            def util(x):
                return x * 3

            @classmethod
            def make(cls, x):
                return (cls.__name__, x)

        @pytest.mark.chaos_crash(target="svc", at_call=1)
        def test_class_attribute(agentchaos):
            agentchaos.wrap(Svc, "svc", attribute="run")
            with pytest.raises(AgentCrashed):
                Svc().run(1)
            assert Svc().run(2) == 2

        @pytest.mark.chaos_crash(target="util", at_call=1)
        def test_staticmethod(agentchaos):
            agentchaos.wrap(Svc.util, "util")
            with pytest.raises(AgentCrashed):
                Svc.util(1)
            assert Svc.util(2) == Svc().util(2) == 6

        @pytest.mark.chaos_crash(target="make", at_call=1)
        def test_classmethod(agentchaos):
            agentchaos.wrap(Svc.make, "make")
            with pytest.raises(AgentCrashed):
                Svc.make(1)
            assert Svc.make(2) == ("Svc", 2)

        def test_all_undone():
            assert Svc().run(1) == 1 and Svc.util(1) == 3 and Svc.make(1) == ("Svc", 1)
            assert type(Svc.__dict__["util"]) is staticmethod
            assert type(Svc.__dict__["make"]) is classmethod
        """,
    )
    result.assert_outcomes(passed=4)
    assert faults_by_test(pytester) == {
        "test_class_attribute": [("crash", "svc", "recovered")],
        "test_staticmethod": [("crash", "util", "recovered")],
        "test_classmethod": [("crash", "make", "recovered")],
    }


def test_wrap_a_method_of_an_instance_by_attribute(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import AgentCrashed

        class Svc:
            def run(self, x):
                return x

        @pytest.mark.chaos_crash(target="svc", at_call=1)
        def test_instance_attribute(agentchaos):
            svc = Svc()
            agentchaos.wrap(svc, "svc", attribute="run")
            with pytest.raises(AgentCrashed):
                svc.run(1)
            assert svc.run(2) == 2
            agentchaos.close()
            assert svc.run(3) == 3
        """,
    )
    result.assert_outcomes(passed=1)


# ------------------------------------------------------------ imperative faults, detection
def test_imperative_inject_explicit_detection_and_assert_no_silent(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("pricing")
        def price():
            return {"price": 10.0}

        def test_inject(agentchaos):
            assert price() == {"price": 10.0}
            agentchaos.inject("crash", target="pricing", at_call=2)
            with pytest.raises(AgentCrashed):
                price()
            assert price() == {"price": 10.0}
            agentchaos.assert_recovered("pricing")

        def test_inject_bad_argument_raises(agentchaos):
            from pytest_agentchaos import ChaosConfigError
            with pytest.raises(ChaosConfigError, match="probability"):
                agentchaos.inject("crash", target="pricing", probability=7)

        @pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
        def test_detected_then_recovered(agentchaos):
            offer = price()
            if offer["price"] != 10.0:
                assert agentchaos.detected("pricing", reason="price check") == 1
            assert price() == {"price": 10.0}
            agentchaos.assert_recovered("pricing")
            agentchaos.assert_no_silent()

        @pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
        def test_assert_no_silent_fails(agentchaos):
            price()
            agentchaos.assert_no_silent()
        """,
    )
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*chaos: 1 corrupted value(s) went through undetected: hallucination at 'pricing'*"]
    )
    assert faults_by_test(pytester) == {
        "test_inject": [("crash", "pricing", "recovered")],
        "test_inject_bad_argument_raises": [],
        "test_detected_then_recovered": [("hallucination", "pricing", "recovered")],
        "test_assert_no_silent_fails": [("hallucination", "pricing", "unrecovered")],
    }


def test_injected_crash_of_another_agent_does_not_detect_a_corruption(
    pytester: pytest.Pytester,
) -> None:
    result = run_chaos(
        pytester,
        """
        import pytest
        from pytest_agentchaos import agent, AgentCrashed

        @agent("pricing")
        def price(sku="A1"):
            return {"price": 10.0}

        @agent("inventory")
        def stock():
            return 3

        @pytest.mark.chaos_hallucination(target="pricing", field="price", at_call=1)
        @pytest.mark.chaos_crash(target="inventory", at_call=1)
        def test_x():
            assert price()["price"] != 10.0  # the wrong price goes through
            with pytest.raises(AgentCrashed):
                stock()
            assert stock() == 3
            price("B2")  # another question: asking the same one again would detect it
        """,
    )
    result.assert_outcomes(passed=1)
    assert faults_by_test(pytester) == {
        "test_x": [("hallucination", "pricing", "silent"), ("crash", "inventory", "recovered")]
    }


def test_concurrent_calls_get_distinct_call_numbers(pytester: pytest.Pytester) -> None:
    result = run_chaos(
        pytester,
        """
        import threading
        import time
        import pytest
        from pytest_agentchaos import agent

        class YieldingName(str):
            def __hash__(self):
                time.sleep(0)
                return str.__hash__(self)

        @agent(YieldingName("worker"))
        def work(i):
            return i

        @pytest.mark.chaos_delay(target="worker", seconds=0, probability=0.0)
        def test_threads(agentchaos):
            barrier = threading.Barrier(8)

            def loop():
                barrier.wait()
                for i in range(50):
                    work(i)

            threads = [threading.Thread(target=loop) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            numbers = sorted(e.payload for e in agentchaos.events("call_start", agent="worker"))
            assert numbers == list(range(1, 401))
            assert agentchaos.calls("worker") == 400
        """,
    )
    result.assert_outcomes(passed=1)
