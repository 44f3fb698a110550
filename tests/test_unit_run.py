"""Unit tests of ChaosRun (run.py, calls.py) driven through agent() and wrap(), without pytest
plugins: faults, timestamps, events, propagation, idempotency, retry, async, in-place patches."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import textwrap
import threading
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import active, make_run

from pytest_agentchaos.engine.injection import activate, agent, current_run, wrap
from pytest_agentchaos.engine.run import ChaosRun, Recovery, RunSettings
from pytest_agentchaos.errors import (
    AgentCrashed,
    AgentHung,
    AgentRefused,
    ChaosConfigError,
    TokenLimitExceeded,
)
from pytest_agentchaos.model.outcomes import FaultResult, Outcome
from pytest_agentchaos.strategies.registry import StrategyRegistry


def kinds(run: ChaosRun, agent_name: str | None = None) -> list[str]:
    return [e[2] for e in run.events if agent_name is None or e[1] == agent_name]


def ordered(result: FaultResult) -> None:
    assert result.detected_ns is not None
    assert result.recovered_ns is not None
    assert result.injected_ns <= result.detected_ns <= result.recovered_ns


def retry_run(*faults: tuple[str, dict[str, Any]], attempts: int = 3) -> ChaosRun:
    return make_run(
        *faults,
        settings=RunSettings(strategies=("retry",), retry_attempts=attempts, retry_backoff_s=0.0),
        recover=StrategyRegistry(entry_points=False).recover,
    )


# ---------------------------------------------------------------- agents used below
@agent("pricing")
def price_product(state: dict[str, Any]) -> dict[str, Any]:
    """Price a product."""
    return {"sku": state.get("sku", "A1"), "price": 19.99}


@agent("marketing")
def write_copy(offer: Any) -> str:
    return f"buy {offer}"


@agent("checker")
def check_price(offer: dict[str, Any]) -> bool:
    if offer["price"] != 19.99:
        raise ValueError(f"price {offer['price']} does not match the catalogue")
    return True


@agent("inventory")
def sync_inventory() -> int:
    return 5


# ---------------------------------------------------------------- agent() itself
def test_agent_keeps_name_doc_signature() -> None:
    assert price_product.__name__ == "price_product"
    assert price_product.__doc__ == "Price a product."
    assert str(inspect.signature(price_product)) == "(state: 'dict[str, Any]') -> 'dict[str, Any]'"
    assert inspect.signature(price_product) == inspect.signature(
        price_product.__wrapped__  # type: ignore[attr-defined]
    )
    assert price_product.__agentchaos_agent__ == "pricing"  # type: ignore[attr-defined]
    assert price_product.__wrapped__.__name__ == "price_product"  # type: ignore[attr-defined]


def test_async_agent_stays_a_coroutine_function() -> None:
    @agent("writer")
    async def write(text: str, *, loud: bool = False) -> str:
        """Write."""
        return text.upper() if loud else text

    assert inspect.iscoroutinefunction(write)
    assert write.__doc__ == "Write."
    assert list(inspect.signature(write).parameters) == ["text", "loud"]
    assert inspect.signature(write).parameters["loud"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(write).parameters["loud"].default is False
    assert asyncio.run(write("hi", loud=True)) == "HI"


def test_bare_agent_decorator_names_after_function() -> None:
    @agent
    def listing(x: int) -> int:
        return x + 1

    assert listing.__agentchaos_agent__ == "listing"  # type: ignore[attr-defined]
    run = make_run(("crash", {"target": "listing"}))
    with active(run), pytest.raises(AgentCrashed):
        listing(1)


def test_agent_with_exact_parameters_forwards_every_kind_of_argument() -> None:
    @agent("m")
    def many(a: int, /, b: int, *rest: int, c: int, d: int = 3, **extra: int) -> tuple[Any, ...]:
        return (a, b, rest, c, d, extra)

    expected = (1, 2, (3, 4), 5, 3, {"e": 6})
    assert many(1, 2, 3, 4, c=5, e=6) == expected
    run = make_run()
    with active(run):
        assert many(1, 2, 3, 4, c=5, e=6) == expected
        assert many(1, b=2, c=5, d=3, e=6) == (1, 2, (), 5, 3, {"e": 6})
    assert run.calls == {"m": 2}


def _inject_db(fn: Any) -> Any:
    """A decorator that supplies the first argument itself (like a DI container)."""

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        return fn("the-db", *args, **kwargs)

    return inner


def test_agent_over_a_signature_changing_decorator() -> None:
    @agent("query")
    @_inject_db
    def query(db: str, sql: str) -> tuple[str, str]:
        return (db, sql)

    assert query("select 1") == ("the-db", "select 1")


@pytest.mark.parametrize("bad", ["", "   ", 3])
def test_agent_needs_a_name(bad: Any) -> None:
    with pytest.raises(ChaosConfigError, match="non-empty name"):
        agent(bad)


def test_outside_a_run_the_wrapper_only_forwards() -> None:
    assert current_run() is None
    assert price_product({"sku": "Z"}) == {"sku": "Z", "price": 19.99}
    run = make_run(("crash", {}))
    assert price_product({}) == {"sku": "A1", "price": 19.99}
    assert run.events == []
    assert run.calls == {}


def test_activate_returns_previous_run() -> None:
    first, second = make_run(), make_run()
    assert activate(first) is None
    try:
        assert activate(second) is first
        assert current_run() is second
    finally:
        assert activate(None) is second
    assert current_run() is None


def test_no_fault_records_start_and_end_only() -> None:
    run = make_run()
    with active(run):
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    assert [e[1:] for e in run.events] == [
        ("pricing", "call_start", None, 1),
        ("pricing", "call_end", None, 1),
    ]
    assert run.finish() == []
    assert run.ended_ns is not None
    assert run.cancelled.is_set()


# ---------------------------------------------------------------- crash
def test_crash_then_call_again_is_recovered_with_ordered_timestamps() -> None:
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed) as info:
            price_product({})
        assert info.value.agent == "pricing"
        assert info.value.fault_id == "run-1#1"
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    [result] = run.finish()
    assert result.fault_id == "run-1#1"
    assert result.run_id == "run-1"
    assert result.kind == "crash"
    assert result.target == "pricing"
    assert result.call_number == 1
    assert result.outcome is Outcome.RECOVERED
    assert result.strategy is None
    assert result.detected_by == "AgentCrashed in pricing"
    assert result.params == {"target": "pricing", "at_call": [1]}
    ordered(result)
    assert result.mttr_s is not None
    assert 0 <= result.mttr_s < 1.0
    assert result.mttd_s is not None
    assert 0 <= result.mttd_s < 1.0
    assert run.calls == {"pricing": 2}


def test_crash_event_sequence_essentials() -> None:
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            price_product({})
        price_product({})
    events = kinds(run)
    for earlier, later in [
        ("fault_injected", "call_error"),
        ("call_error", "fault_detected"),
        ("fault_detected", "call_end"),
        ("call_end", "fault_recovered"),
    ]:
        assert events.index(earlier) < events.index(later), events
    assert events.count("call_start") == 2
    assert events[-1] == "fault_recovered"
    timestamps = [e[0] for e in run.events]
    assert timestamps == sorted(timestamps)
    injected = next(e for e in run.events if e[2] == "fault_injected")
    assert injected[3] == "run-1#1"
    assert injected[4] == {
        "kind": "crash",
        "call": 1,
        "params": {"target": "pricing", "at_call": [1]},
    }
    error = next(e for e in run.events if e[2] == "call_error")
    assert error[4]["call"] == 1
    assert error[4]["error"].startswith("AgentCrashed: chaos: agent 'pricing' crashed")


def test_crash_event_sequence_call_start_first() -> None:
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            price_product({})
        price_product({})
    assert kinds(run) == [
        "call_start",
        "fault_injected",
        "call_error",
        "fault_detected",
        "call_start",
        "call_end",
        "fault_recovered",
    ]


def test_crash_never_called_again_is_unrecovered() -> None:
    run = make_run(("crash", {"target": "pricing"}))
    with active(run), pytest.raises(AgentCrashed):
        price_product({})
    [result] = run.finish()
    assert result.outcome is Outcome.UNRECOVERED
    assert result.detected_ns is not None
    assert result.recovered_ns is None
    assert result.mttr_s is None


def test_glob_target_and_times() -> None:
    run = make_run(("crash", {"target": "pric*", "times": 1}))
    with active(run):
        assert write_copy("x") == "buy x"
        with pytest.raises(AgentCrashed):
            price_product({})
        price_product({})
        price_product({})
    assert [(r.target, r.call_number) for r in run.finish()] == [("pricing", 1)]


def test_at_call_list_fires_at_each_listed_call() -> None:
    run = make_run(("crash", {"target": "pricing", "at_call": [2, 4]}))
    failed = []
    with active(run):
        for n in range(1, 6):
            try:
                price_product({})
            except AgentCrashed:
                failed.append(n)
    assert failed == [2, 4]
    results = run.finish()
    assert [r.outcome for r in results] == [Outcome.RECOVERED, Outcome.RECOVERED]


def test_crash_after_runs_the_body_then_raises() -> None:
    ran = []

    @agent("writer")
    def write(x: int) -> int:
        ran.append(x)
        return x

    run = make_run(("crash", {"target": "writer", "when": "after", "at_call": 1}))
    with active(run), pytest.raises(AgentCrashed, match="after call 1 ran"):
        write(1)
    assert ran == [1]


# ---------------------------------------------------------------- other agent faults
def test_refusal_raises_and_body_does_not_run() -> None:
    ran = []

    @agent("llm")
    def ask(q: str) -> str:
        ran.append(q)
        return "answer"

    run = make_run(("refusal", {"target": "llm", "message": "no way"}))
    with active(run), pytest.raises(AgentRefused, match="no way"):
        ask("q")
    assert ran == []


def test_sync_hang_blocks_for_its_seconds_then_raises_timeout() -> None:
    run = make_run(("hang", {"target": "pricing", "seconds": 0.05}))
    start = time.monotonic()
    with active(run), pytest.raises(AgentHung) as info:
        price_product({})
    assert time.monotonic() - start >= 0.045
    assert isinstance(info.value, TimeoutError)
    [result] = run.finish()
    assert result.outcome is Outcome.UNRECOVERED


def test_sync_hang_uses_run_deadline() -> None:
    run = make_run(("hang", {"target": "pricing"}), settings=RunSettings(deadline_s=0.03))
    start = time.monotonic()
    with active(run), pytest.raises(AgentHung, match=r"0\.03 s"):
        price_product({})
    assert 0.025 <= time.monotonic() - start < 0.5


def test_delay_is_tolerated_and_result_unchanged() -> None:
    run = make_run(("delay", {"target": "pricing", "seconds": 0.03}))
    start = time.monotonic()
    with active(run):
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    assert time.monotonic() - start >= 0.025
    [result] = run.finish()
    assert result.outcome is Outcome.TOLERATED
    assert result.detected_ns is None


def test_skip_step_hands_input_on_and_is_silent() -> None:
    run = make_run(("skip_step", {"target": "pricing"}))
    state = {"sku": "B2"}
    with active(run):
        assert price_product(state) is state
    [result] = run.finish()
    assert result.outcome is Outcome.SILENT


def test_token_limit_truncates_text_and_raises_without_text() -> None:
    @agent("llm")
    def ask() -> str:
        return "0123456789"

    run = make_run(("token_limit", {"target": "llm", "keep": 0.3}))
    with active(run):
        assert ask() == "012"
        assert sync_inventory() == 5  # not targeted
    run2 = make_run(("token_limit", {"target": "inventory"}))
    with active(run2), pytest.raises(TokenLimitExceeded):
        sync_inventory()


def test_memory_wipe_of_function_agent_hands_it_an_empty_state() -> None:
    seen = []

    @agent("planner")
    def plan(state: dict[str, Any]) -> int:
        seen.append(dict(state))
        return len(state)

    run = make_run(("memory_wipe", {"target": "planner", "at_call": 1}))
    with active(run):
        assert plan({"a": 1, "b": 2}) == 0
        assert plan({"a": 1, "b": 2}) == 2
    assert seen == [{}, {"a": 1, "b": 2}]
    [result] = run.finish()
    assert result.params["detail"] == {"wiped": "state argument"}
    assert result.outcome is Outcome.SILENT


# ---------------------------------------------------------------- hallucination
def test_hallucination_propagation_and_silent() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price", "at_call": 1}))
    with active(run):
        offer = price_product({})
        assert offer["price"] != 19.99
        assert isinstance(offer["price"], float)
        write_copy(offer)
        write_copy({"wrapped": {"offer": offer}})
        write_copy([1, offer])
        write_copy({"sku": "A1", "price": 19.99})  # a clean value does not count
        sync_inventory()
    [result] = run.finish()
    assert result.kind == "hallucination"
    assert result.propagation == 3
    assert result.outcome is Outcome.SILENT
    assert result.detected_ns is None
    assert result.params["detail"] == {"field": "price"}
    received = [e for e in run.events if e[2] == "corruption_received"]
    assert [(e[1], e[3], e[4]) for e in received] == [("marketing", "run-1#1", "price")] * 3


def test_hallucination_detected_by_later_agent_then_recovered() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price", "at_call": 1}))
    with active(run):
        offer = price_product({})
        with pytest.raises(ValueError, match="does not match"):
            check_price(offer)
        good = price_product({})
        assert check_price(good) is True
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    assert result.detected_by == "ValueError in checker"
    assert result.propagation == 1
    ordered(result)


def test_hallucination_caught_by_failing_test_is_unrecovered() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price"}))
    with active(run):
        price_product({})
    [result] = run.finish(test_failed=True)
    assert result.outcome is Outcome.UNRECOVERED
    assert result.detected_by == "test failed"


def test_detect_explicitly_by_target() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price", "at_call": 1}))
    with active(run):
        price_product({})
    assert run.detect("checked by hand", target="marketing") == 0
    assert run.detect("checked by hand", target="pricing") == 1
    assert run.detect("checked by hand", target="pricing") == 0
    [result] = run.finish()
    assert result.outcome is Outcome.UNRECOVERED
    assert result.detected_by == "checked by hand"


def test_injected_crash_elsewhere_does_not_detect_a_hallucination() -> None:
    run = make_run(
        ("hallucination", {"target": "pricing", "field": "price", "at_call": 1}),
        ("crash", {"target": "inventory", "at_call": 1}),
    )
    with active(run):
        price_product({})
        with pytest.raises(AgentCrashed):
            sync_inventory()
        price_product({"sku": "B2"})  # another question: asking the same one again detects
    results = {r.kind: r for r in run.finish()}
    assert results["hallucination"].outcome is Outcome.SILENT


# ---------------------------------------------------------------- side effects
def test_side_effect_crash_after_then_replay_runs_body_once() -> None:
    sent: list[str] = []

    @agent("mailer", side_effect=True)
    def send(to: str, body: str) -> str:
        sent.append(to)
        return f"msg-{len(sent)}"

    run = make_run(("crash", {"target": "mailer", "when": "after", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            send("a@x", body="hi")
        assert send("a@x", body="hi") == "msg-1"
        assert send("a@x", "hi") == "msg-1"  # same arguments, passed positionally
        assert send("b@x", body="hi") == "msg-2"
    assert sent == ["a@x", "b@x"]
    replayed = [e for e in run.events if e[2] == "effect_replayed"]
    assert [e[4]["call"] for e in replayed] == [2, 3]
    assert replayed[0][4]["key"] == replayed[1][4]["key"]
    assert replayed[0][4]["key"].startswith("mailer:")
    assert "a@x" in replayed[0][4]["key"]
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    ordered(result)
    assert kinds(run).index("effect_replayed") < kinds(run).index("fault_recovered")


def test_side_effect_key_string_and_callable() -> None:
    calls: list[Any] = []

    @agent("charge", side_effect=True, key="once")
    def charge(amount: int) -> int:
        calls.append(amount)
        return amount

    @agent("ship", side_effect=True, key=lambda order, **_: str(order["id"]))
    def ship(order: dict[str, Any], *, note: str = "") -> str:
        calls.append(order["id"])
        return f"shipped {order['id']}"

    run = make_run()
    with active(run):
        assert charge(5) == 5
        assert charge(7) == 5  # same fixed key: replay of the recorded result
        assert ship({"id": 1, "qty": 2}) == "shipped 1"
        assert ship({"id": 1, "qty": 3}, note="again") == "shipped 1"
        assert ship({"id": 2}) == "shipped 2"
    assert calls == [5, 1, 2]
    keys = [e[4]["key"] for e in run.events if e[2] == "effect_replayed"]
    assert keys == ["charge:once", "ship:1"]


def test_side_effect_is_scoped_to_one_run() -> None:
    calls: list[int] = []

    @agent("charge", side_effect=True)
    def charge(amount: int) -> int:
        calls.append(amount)
        return amount

    for run_id in ("a", "b"):
        run = ChaosRun(run_id=run_id, nodeid="n", seed=1)
        with active(run):
            charge(1)
            charge(1)
    assert calls == [1, 1]


def test_side_effect_crash_before_does_not_record_a_result() -> None:
    calls: list[int] = []

    @agent("charge", side_effect=True)
    def charge(amount: int) -> int:
        calls.append(amount)
        return amount

    run = make_run(("crash", {"target": "charge", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            charge(1)
        assert charge(1) == 1
    assert calls == [1]
    assert "effect_replayed" not in kinds(run)


# ---------------------------------------------------------------- strategies
def test_retry_strategy_recovers_a_crash() -> None:
    run = retry_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    assert result.strategy == "retry"
    ordered(result)
    assert run.calls == {"pricing": 2}
    events = kinds(run)
    for name in ("recovery_attempt", "retry_attempt", "fault_recovered", "recovery_succeeded"):
        assert name in events
    assert events.index("fault_detected") < events.index("recovery_attempt")
    assert events.index("fault_recovered") < events.index("recovery_succeeded")
    succeeded = next(e for e in run.events if e[2] == "recovery_succeeded")
    assert succeeded[4] == {"strategy": "retry", "detail": "attempt 1"}


def test_retry_exhausted_reraises_and_all_unrecovered() -> None:
    run = retry_run(("crash", {"target": "pricing"}), attempts=2)
    with active(run), pytest.raises(AgentCrashed):
        price_product({})
    results = run.finish()
    assert len(results) == 3  # the first call and two retries
    assert {r.outcome for r in results} == {Outcome.UNRECOVERED}
    assert kinds(run).count("retry_attempt") == 2
    assert kinds(run).count("recovery_failed") == 1


def test_without_strategies_setting_the_hook_is_not_asked() -> None:
    asked: list[str] = []

    def hook(failure: Any, strategy: str) -> Recovery | None:
        asked.append(strategy)
        return Recovery("x")

    run = make_run(("crash", {"target": "pricing"}), recover=hook)
    with active(run), pytest.raises(AgentCrashed):
        price_product({})
    assert asked == []


def test_broken_strategy_is_recorded_and_next_one_tried() -> None:
    def hook(failure: Any, strategy: str) -> Recovery | None:
        if strategy == "broken":
            raise RuntimeError("oops")
        assert failure.agent == "pricing"
        assert failure.call_number == 1
        assert failure.fault is not None
        assert failure.fault.kind == "crash"
        assert failure.fault_id == "run-1#1"
        return Recovery({"price": 1.0}, detail="fallback value")

    run = make_run(
        ("crash", {"target": "pricing", "at_call": 1}),
        settings=RunSettings(strategies=("broken", "fallback")),
        recover=hook,
    )
    with active(run):
        assert price_product({}) == {"price": 1.0}
    errors = [e for e in run.events if e[2] == "recovery_error"]
    assert errors[0][4] == {"strategy": "broken", "error": "RuntimeError: oops"}
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    assert result.strategy == "fallback"


# ---------------------------------------------------------------- async
def test_async_crash_then_recovery() -> None:
    @agent("writer")
    async def write(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    run = make_run(("crash", {"target": "writer", "at_call": 1}))

    async def main() -> str:
        with pytest.raises(AgentCrashed):
            await write("a")
        return await write("b")

    with active(run):
        assert asyncio.run(main()) == "B"
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    ordered(result)


def test_async_retry_strategy() -> None:
    @agent("writer")
    async def write(text: str) -> str:
        return text.upper()

    run = retry_run(("crash", {"target": "writer", "at_call": 1}))
    with active(run):
        assert asyncio.run(write("ok")) == "OK"
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    assert result.strategy == "retry"


def test_async_hang_cancelled_by_caller_is_detected_then_recovered() -> None:
    @agent("writer")
    async def write(text: str) -> str:
        return text

    run = make_run(("hang", {"target": "writer", "at_call": 1}))  # deadline 1 s

    async def main() -> str:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(write("a"), timeout=0.05)
        assert time.monotonic() - start < 0.5
        return await write("b")

    with active(run):
        assert asyncio.run(main()) == "b"
    [result] = run.finish()
    assert result.detected_by == "caller cancelled writer"
    assert result.outcome is Outcome.RECOVERED
    ordered(result)
    assert result.mttd_s is not None
    assert 0.04 <= result.mttd_s < 0.5
    assert "call_cancelled" in kinds(run)
    assert "call_error" not in kinds(run)


def test_async_hang_with_own_seconds_raises_agent_hung() -> None:
    @agent("writer")
    async def write() -> str:
        return "x"

    run = make_run(("hang", {"target": "writer", "seconds": 0.02}))
    with active(run), pytest.raises(AgentHung):
        asyncio.run(write())


# ---------------------------------------------------------------- wrap()
MODULE_SOURCE = textwrap.dedent(
    '''
    calls = []

    def price(x):
        """Module-level pricing."""
        calls.append(x)
        return x * 2

    async def aprice(x):
        return x * 3

    class Shop:
        def __init__(self):
            self.memory = {"seen": 1}

        def price(self, x):
            calls.append(("method", x, dict(self.memory)))
            return x + 1

        @staticmethod
        def static_price(x):
            return x + 10

        @classmethod
        def class_price(cls, x):
            return (cls.__name__, x)

    class Pricer:
        def __init__(self):
            self.rate = 3

        def __call__(self, x):
            return x * self.rate
    '''
)


@pytest.fixture
def tmp_module() -> Iterator[types.ModuleType]:
    name = "agentchaos_unit_tmp_agents"
    module = types.ModuleType(name)
    exec(compile(MODULE_SOURCE, f"<{name}>", "exec"), module.__dict__)
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        yield module
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous


def test_wrap_module_function_in_place_and_undo(tmp_module: types.ModuleType) -> None:
    original = tmp_module.price
    patch = wrap(tmp_module.price, "pricing")
    assert tmp_module.price is not original
    assert tmp_module.price.__name__ == "price"
    assert tmp_module.price.__doc__ == "Module-level pricing."
    assert tmp_module.price(2) == 4  # outside a run: forwards
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            tmp_module.price(3)
        assert tmp_module.price(3) == 6
    assert tmp_module.calls == [2, 3]
    assert [r.outcome for r in run.finish()] == [Outcome.RECOVERED]
    patch.undo()
    assert tmp_module.price is original
    patch.undo()  # twice is harmless
    assert tmp_module.price is original


def test_wrap_as_context_manager(tmp_module: types.ModuleType) -> None:
    original = tmp_module.price
    with wrap(tmp_module.price, "pricing") as wrapped:
        assert tmp_module.price is wrapped
        assert wrapped(1) == 2
    assert tmp_module.price is original


def test_wrap_async_module_function(tmp_module: types.ModuleType) -> None:
    with wrap(tmp_module.aprice, "pricing"):
        assert inspect.iscoroutinefunction(tmp_module.aprice)
        run = make_run(("crash", {"target": "pricing", "at_call": 1}))

        async def main() -> int:
            with pytest.raises(AgentCrashed):
                await tmp_module.aprice(1)
            return int(await tmp_module.aprice(2))

        with active(run):
            assert asyncio.run(main()) == 6
        assert [r.outcome for r in run.finish()] == [Outcome.RECOVERED]


def test_wrap_method_passes_instance_and_wipes_its_memory(tmp_module: types.ModuleType) -> None:
    shop_cls = tmp_module.Shop
    original = inspect.getattr_static(shop_cls, "price")
    with wrap(shop_cls.price, "pricing"):
        shop = shop_cls()
        assert shop.price(1) == 2
        run = make_run(("memory_wipe", {"target": "pricing", "at_call": 1}))
        with active(run):
            assert shop.price(5) == 6
        assert shop.memory == {}
        assert tmp_module.calls[-1] == ("method", 5, {})
        [result] = run.finish()
        assert result.params["detail"] == {"wiped": "Shop.memory"}
    assert inspect.getattr_static(shop_cls, "price") is original


def test_wrap_staticmethod_and_classmethod(tmp_module: types.ModuleType) -> None:
    shop_cls = tmp_module.Shop
    original_static = inspect.getattr_static(shop_cls, "static_price")
    original_class = inspect.getattr_static(shop_cls, "class_price")
    static_patch = wrap(shop_cls.static_price, "static")
    class_patch = wrap(shop_cls.class_price, "klass")
    try:
        assert isinstance(inspect.getattr_static(shop_cls, "static_price"), staticmethod)
        assert isinstance(inspect.getattr_static(shop_cls, "class_price"), classmethod)
        assert shop_cls.static_price(1) == 11
        assert shop_cls().static_price(2) == 12
        assert shop_cls.class_price(1) == ("Shop", 1)
        run = make_run(
            ("crash", {"target": "static", "at_call": 1}), ("crash", {"target": "klass"})
        )
        with active(run):
            with pytest.raises(AgentCrashed):
                shop_cls.static_price(1)
            assert shop_cls().static_price(1) == 11
            with pytest.raises(AgentCrashed):
                shop_cls.class_price(1)
        assert run.calls == {"static": 2, "klass": 1}
    finally:
        static_patch.undo()
        class_patch.undo()
    assert inspect.getattr_static(shop_cls, "static_price") is original_static
    assert inspect.getattr_static(shop_cls, "class_price") is original_class


def test_wrap_attribute_of_owner(tmp_module: types.ModuleType) -> None:
    original = tmp_module.price
    with wrap(tmp_module, "pricing", attribute="price"):
        run = make_run(("crash", {"target": "pricing"}))
        with active(run), pytest.raises(AgentCrashed):
            tmp_module.price(1)
    assert tmp_module.price is original


def test_wrap_callable_object_is_a_proxy(tmp_module: types.ModuleType) -> None:
    pricer = tmp_module.Pricer()
    patch = wrap(pricer, "pricing")
    proxy = patch.wrapper
    assert isinstance(proxy, tmp_module.Pricer)
    assert proxy.rate == 3
    assert proxy(2) == 6
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))
    with active(run):
        with pytest.raises(AgentCrashed):
            proxy(1)
        assert proxy(1) == 3
    assert [r.outcome for r in run.finish()] == [Outcome.RECOVERED]
    patch.undo()
    assert pricer(1) == 3


def test_wrap_local_function_is_refused() -> None:
    def local(x: int) -> int:
        return x

    with pytest.raises(ChaosConfigError, match="not reachable from its module"):
        wrap(local, "x")


def test_wrap_non_callable_is_refused() -> None:
    with pytest.raises(ChaosConfigError, match="needs a function"):
        wrap(42, "x")


# ---------------------------------------------------------------- firings with no effect
def test_hallucination_with_nothing_to_corrupt_is_not_silent() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "cost"}))
    with active(run):
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    [result] = run.finish()
    assert result.params["detail"] == {"not_applicable": "no field to corrupt in dict"}
    assert result.outcome is Outcome.TOLERATED


def test_hallucination_preempted_by_crash_is_not_silent() -> None:
    run = make_run(
        ("crash", {"target": "pricing", "at_call": 1}),
        ("hallucination", {"target": "pricing", "field": "price", "at_call": 1}),
    )
    with active(run):
        with pytest.raises(AgentCrashed):
            price_product({})
        assert price_product({}) == {"sku": "A1", "price": 19.99}
    outcomes = {r.kind: r.outcome for r in run.finish()}
    assert outcomes == {"crash": Outcome.RECOVERED, "hallucination": Outcome.TOLERATED}


def test_hallucinated_field_passed_as_scalar_counts_as_propagation() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price", "at_call": 1}))
    with active(run):
        offer = price_product({})
        write_copy(offer["price"])
    [result] = run.finish()
    assert result.propagation == 1


# ---------------------------------------------------------------- threads
def test_concurrent_calls_get_distinct_call_numbers() -> None:
    run = make_run()
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()  # start together, so the first calls race to create the counter too
        for _ in range(500):
            sync_inventory()

    # A tiny switch interval makes the GIL change hands inside the call path as often as it can.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with active(run):
            threads = [threading.Thread(target=hammer) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
    finally:
        sys.setswitchinterval(interval)
    numbers = sorted(e[4] for e in run.events if e[2] == "call_start")
    assert numbers == list(range(1, 4001))
    assert run.calls["inventory"] == 4000
    assert dict(run.calls) == {"inventory": 4000}


def test_async_callable_object_proxy(tmp_module: types.ModuleType) -> None:
    class AsyncPricer:
        async def __call__(self, x: int) -> int:
            return x * 4

    proxy = wrap(AsyncPricer(), "pricing").wrapper
    assert isinstance(proxy, AsyncPricer)
    run = make_run(("crash", {"target": "pricing", "at_call": 1}))

    async def main() -> int:
        with pytest.raises(AgentCrashed):
            await proxy(1)
        return int(await proxy(2))

    with active(run):
        assert asyncio.run(main()) == 8
    assert asyncio.run(proxy(3)) == 12


# ---------------------------------------------------------------- recovery edge cases
def test_concurrent_async_agents_are_each_recovered() -> None:
    @agent("left")
    async def left() -> str:
        await asyncio.sleep(0)
        return "L"

    @agent("right")
    async def right() -> str:
        await asyncio.sleep(0)
        return "R"

    run = make_run(
        ("crash", {"at_call": 1}),
        settings=RunSettings(strategies=("retry",), retry_backoff_s=0.02),
        recover=StrategyRegistry(entry_points=False).recover,
    )

    async def main() -> list[Any]:
        return list(await asyncio.gather(left(), right(), return_exceptions=True))

    with active(run):
        assert asyncio.run(main()) == ["L", "R"]
    assert {(r.target, r.outcome, r.strategy) for r in run.finish()} == {
        ("left", Outcome.RECOVERED, "retry"),
        ("right", Outcome.RECOVERED, "retry"),
    }


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_strategy_returning_a_plain_value_does_not_hide_the_failure(is_async: bool) -> None:
    @agent("plain")
    def plain() -> int:
        return 1

    @agent("plain")
    async def aplain() -> int:
        return 1

    run = make_run(
        ("crash", {"target": "plain"}),
        settings=RunSettings(strategies=("sloppy",)),
        recover=lambda failure, strategy: {"value": 2},
    )

    def call() -> int:
        return asyncio.run(aplain()) if is_async else plain()

    with active(run), pytest.raises(AgentCrashed):
        call()
    assert "recovery_error" in kinds(run)
