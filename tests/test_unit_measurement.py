"""Measurements you can trust (issue 7): each test checks a timestamp or an outcome against the
truth the test itself observes with ``time.monotonic_ns()``."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import types
from collections.abc import Iterator
from contextlib import suppress
from typing import Any

import helpers
import pytest
from helpers import active

from pytest_agentchaos import AgentCrashed, ChaosController, wrap
from pytest_agentchaos.engine.injection import agent
from pytest_agentchaos.engine.keys import UnkeyableArgument
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.errors import AgentHung, ChaosConfigError
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.model.outcomes import Outcome

MS = 1_000_000


def make_run(*faults: tuple[str, dict[str, Any]]) -> ChaosRun:
    return helpers.make_run(*faults, run_id="m")


def in_time_order(run: ChaosRun) -> bool:
    return all(a[0] <= b[0] for a, b in zip(run.events, run.events[1:], strict=False))


# ------------------------------------------------------ after-call faults, stamped when they act
BODY_ENDS: list[int] = []


@agent("writer")
def write_slowly(topic: str) -> dict[str, Any]:
    time.sleep(0.1)
    BODY_ENDS.append(time.monotonic_ns())
    return {"title": f"all about {topic} and more", "price": 10.0}


@agent("writer")
async def awrite_slowly(topic: str) -> dict[str, Any]:
    await asyncio.sleep(0.1)
    BODY_ENDS.append(time.monotonic_ns())
    return {"title": f"all about {topic} and more", "price": 10.0}


AFTER_CALL = {
    "hallucination": {"field": "price"},
    "token_limit": {},
    "crash": {"when": "after"},
}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", list(AFTER_CALL))
def test_after_call_faults_are_stamped_when_they_act(kind: str, is_async: bool) -> None:
    run = make_run((kind, {"target": "writer", "at_call": 1, **AFTER_CALL[kind]}))
    BODY_ENDS.clear()
    with active(run):
        with suppress(AgentCrashed):
            asyncio.run(awrite_slowly("tea")) if is_async else write_slowly("tea")
        returned = time.monotonic_ns()
        time.sleep(0.03)
        detected = time.monotonic_ns()
        run.detect("checked by the test", fault_id="m#1")
    [result] = run.finish()
    # The fault acted between the body's end and the call's return, both seen by the test,
    # so the true MTTD lies between these two readings (the old stamp made it 100 ms more).
    assert BODY_ENDS[0] <= result.injected_ns <= returned
    assert result.mttd_s is not None
    assert result.detected_ns is not None
    at_least, at_most = result.detected_ns - returned, result.detected_ns - BODY_ENDS[0]
    assert at_least / 1e9 <= result.mttd_s <= at_most / 1e9, (result.mttd_s, at_least, at_most)
    assert result.mttd_s < 0.1  # not the body's 100 ms
    if kind != "crash":  # a crash surfaces as it acts; the others when the test checks
        assert detected <= result.detected_ns  # type: ignore[operator]
    assert in_time_order(run)


# ------------------------------------------- completion and detection: one lock, one clock
@agent("flaky")
def flaky(n: int) -> int:
    return n


def _hammer(calls: int) -> None:
    for n in range(calls):
        with suppress(AgentCrashed):
            flaky(n)
    while True:  # a final good call
        try:
            flaky(-1)
            return
        except AgentCrashed:
            continue


@pytest.mark.parametrize("repetition", range(10))
def test_threads_never_see_a_recovery_before_its_detection(repetition: int) -> None:
    run = ChaosRun(
        run_id=f"threads-{repetition}",
        nodeid="t",
        seed=repetition,
        faults=[parse_fault("crash", {"target": "flaky", "probability": 0.3})],
    )
    with active(run):
        threads = [threading.Thread(target=_hammer, args=(400,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    results = run.finish()
    assert len(results) > 500
    backwards = [r for r in results if r.recovered_ns and r.recovered_ns < r.detected_ns]  # type: ignore[operator]
    assert backwards == []
    assert {r.outcome for r in results} == {Outcome.RECOVERED}
    assert in_time_order(run)
    assert all(event[0] <= run.ended_ns for event in run.events)  # type: ignore[operator]


def test_nothing_is_recorded_after_the_run_ends() -> None:
    run = make_run(("crash", {"target": "flaky", "probability": 0.5}), ("hang", {"target": "x"}))
    stop = threading.Event()

    def keep_calling() -> None:
        while not stop.is_set():
            with suppress(AgentCrashed):
                flaky(1)

    with active(run):
        thread = threading.Thread(target=keep_calling)
        thread.start()
        time.sleep(0.05)
        results = run.finish()
        events, firings = len(run.events), len(run.firings)
        time.sleep(0.05)  # the thread is still calling, through the same (ended) run
    stop.set()
    thread.join()
    assert (len(run.events), len(run.firings)) == (events, firings)
    assert [r.model_dump() for r in results] == [
        f.freeze(run.run_id).model_dump() for f in run.firings
    ]
    never = [e for e in run.events if e[2] == "fault_never_fired"]
    assert [e[1] for e in never] == ["x"]
    assert all(event[0] <= run.ended_ns for event in run.events)  # type: ignore[operator]
    assert in_time_order(run)


# --------------------------------------------------------------------- idempotency keys
EFFECTS: list[Any] = []


@agent("ledger", side_effect=True)
def book(entry: Any) -> int:
    EFFECTS.append(entry)
    return len(EFFECTS)


def test_non_string_dict_keys_work_and_keep_their_type() -> None:
    EFFECTS.clear()
    with active(make_run()):
        assert book({1: "a", (2, 3): "b"}) == 1
        assert book({1: "a", (2, 3): "b"}) == 1  # the same call: replayed
        assert book({"1": "a"}) == 2  # not the same as {1: "a"}
        assert book({1: "a"}) == 3
    assert len(EFFECTS) == 3


class Summary:
    """A value whose repr summarises it: two different ones print alike."""

    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Summary({len(self.items)} items)"


def test_equal_reprs_of_different_values_never_share_a_key() -> None:
    EFFECTS.clear()
    with active(make_run()), pytest.raises(UnkeyableArgument, match="pass key=") as raised:
        book(Summary([1, 2]))
    assert "Summary" in str(raised.value)
    assert isinstance(raised.value, ChaosConfigError)
    assert EFFECTS == []


def test_numpy_arrays_with_equal_reprs_are_refused() -> None:
    numpy = pytest.importorskip("numpy")
    first, second = numpy.zeros(5000), numpy.zeros(5000)
    second[2500] = 1.0
    assert repr(first) == repr(second)
    with active(make_run()), pytest.raises(UnkeyableArgument, match=r"ndarray.*key="):
        book(first)


def test_an_explicit_key_makes_any_argument_usable() -> None:
    EFFECTS.clear()

    @agent("ledger2", side_effect=True, key=lambda s: f"n{len(s.items)}")
    def book2(summary: Summary) -> int:
        EFFECTS.append(summary)
        return len(EFFECTS)

    with active(make_run()):
        assert book2(Summary([1])) == book2(Summary([2])) == 1


@pytest.fixture
def shop_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("agentchaos_keys_shop")
    exec(
        "effects = []\n"
        "def reserve(sku, quantity=1):\n"
        "    effects.append((sku, quantity))\n"
        "    return len(effects)\n",
        module.__dict__,
    )
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_wrap_binds_arguments_like_agent(shop_module: types.ModuleType) -> None:
    with wrap(shop_module.reserve, "shop", side_effect=True), active(make_run()):
        assert shop_module.reserve(sku="A", quantity=2) == 1
        assert shop_module.reserve("A", 2) == 1  # the same call, positionally: replayed
        assert shop_module.reserve("A") == 2  # quantity=1 is another call
        assert shop_module.reserve("A", quantity=1) == 2
    assert shop_module.effects == [("A", 2), ("A", 1)]


# ------------------------------------------------- recovery: a call that started after detection
@agent("catalog")
def lookup(delay: float) -> str:
    time.sleep(delay)
    return "ok"


def test_a_call_already_running_at_detection_does_not_recover_it() -> None:
    run = make_run(("crash", {"target": "catalog", "at_call": 2}))
    with active(run):
        slow = threading.Thread(target=lookup, args=(0.2,))
        slow.start()  # call 1: running while call 2 crashes
        time.sleep(0.05)
        with pytest.raises(AgentCrashed):
            lookup(0)
        slow.join()
        [before] = ChaosController(run).faults()
        assert before.outcome is Outcome.UNRECOVERED
        started = time.monotonic_ns()
        lookup(0.02)
        ended = time.monotonic_ns()
    [result] = run.finish()
    assert result.outcome is Outcome.RECOVERED
    assert started <= result.recovered_ns <= ended  # type: ignore[operator]
    assert result.mttr_s is not None
    assert result.mttr_s >= 0.02  # MTTR includes the recovering call's own duration


# --------------------------------------------------------------- re-asking is detecting
@agent("pricing")
def quote(sku: str) -> dict[str, Any]:
    return {"sku": sku, "price": 19.99}


def test_asking_the_same_question_again_detects_a_corrupted_answer() -> None:
    run = make_run(("hallucination", {"target": "pricing", "field": "price", "at_call": 1}))
    with active(run):
        first = quote("A1")
        assert first["price"] != 19.99
        quote("B2")  # another question: detects nothing
        assert ChaosController(run).faults()[0].outcome is Outcome.SILENT
        second = quote("A1")  # the system doubts the answer and asks again
    assert second["price"] == 19.99
    [result] = run.finish()
    starts = [e[0] for e in run.events if e[2] == "call_start" and e[4] == 3]
    ends = [e[0] for e in run.events if e[2] == "call_end" and e[4] == 3]
    assert result.detected_ns == starts[0]
    assert result.recovered_ns == ends[0]
    assert result.outcome is Outcome.RECOVERED
    assert result.detected_by == "pricing asked the same question again"


# ------------------------------------------------ a sync hang the caller stopped waiting for
@agent("search")
def search(query: str) -> str:
    return f"results for {query}"


def test_a_call_made_while_a_hang_still_blocks_detects_and_recovers_it() -> None:
    run = make_run(("hang", {"target": "search", "at_call": 1, "seconds": 5.0}))
    errors: list[BaseException] = []

    def hung_caller() -> None:
        try:
            search("slow")
        except AgentHung as error:
            errors.append(error)

    with active(run):
        blocked = threading.Thread(target=hung_caller)
        blocked.start()
        time.sleep(0.05)  # the caller stops waiting and asks again
        asked = time.monotonic_ns()
        assert search("fast") == "results for fast"
        done = time.monotonic_ns()
        [result] = ChaosController(run).faults()
        run.finish()
    blocked.join(5)
    assert result.outcome is Outcome.RECOVERED
    assert asked <= result.detected_ns <= result.recovered_ns <= done  # type: ignore[operator]
    assert result.mttd_s is not None
    assert 0.04 < result.mttd_s < 1.0  # not the 5 s hang
    assert result.detected_by == "search called again while it hung"


# ---------------------------------------------------- detected(target) and completed delays
def test_detected_target_without_kind_leaves_completed_delays_alone() -> None:
    run = make_run(
        ("delay", {"target": "pricing", "seconds": 0.0, "at_call": 1}),
        ("hallucination", {"target": "pricing", "field": "price", "at_call": 2}),
    )
    controller = ChaosController(run)
    with active(run):
        quote("A1")
        quote("B2")
        assert controller.detected("pricing") == 1  # the wrong price, not the delay
        assert controller.detected("pricing", kind="delay") == 1
    outcomes = {r.kind: r.outcome for r in run.finish()}
    assert outcomes == {"delay": Outcome.UNRECOVERED, "hallucination": Outcome.UNRECOVERED}


# --------------------------------------------------------------------- at_call and replays
@agent("stock", side_effect=True)
def reserve(sku: str) -> str:
    EFFECTS.append(sku)
    return f"reserved {sku}"


def test_a_replay_takes_a_call_number_and_no_fault_fires_at_it() -> None:
    EFFECTS.clear()
    run = make_run(
        ("crash", {"target": "stock", "at_call": 1, "when": "after"}),
        ("refusal", {"target": "stock", "at_call": 2}),
        ("delay", {"target": "stock", "at_call": 3, "seconds": 0.0}),
    )
    with active(run):
        with pytest.raises(AgentCrashed):
            reserve("A")  # call 1: the effect happened, then the agent died
        assert reserve("A") == "reserved A"  # call 2: the recorded result, no refusal
        assert reserve("B") == "reserved B"  # call 3: a new key, the delay fires
    assert EFFECTS == ["A", "B"]
    assert run.calls["stock"] == 3
    results = {r.kind: r for r in run.finish()}
    assert set(results) == {"crash", "delay"}
    assert results["crash"].outcome is Outcome.RECOVERED
    assert results["delay"].call_number == 3
    replayed = [e[4] for e in run.events if e[2] == "effect_replayed"]
    assert [p["call"] for p in replayed] == [2]
    assert [e[1] for e in run.events if e[2] == "fault_never_fired"] == ["stock"]
