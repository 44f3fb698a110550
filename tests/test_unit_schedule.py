"""Unit tests of pytest_agentchaos.model.schedule: seeds and the pure firing decision."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.model.schedule import (
    derive_seed,
    draw_session_seed,
    fire_draw,
    rng_for,
    should_fire,
    unit_draw,
)


def test_derive_seed_is_deterministic() -> None:
    assert derive_seed(1234, "tests/t.py::test_a") == derive_seed(1234, "tests/t.py::test_a", 0)
    assert derive_seed(1234, "tests/t.py::test_a", 3) == derive_seed(1234, "tests/t.py::test_a", 3)


def test_derive_seed_differs_by_session_nodeid_and_repetition() -> None:
    base = derive_seed(1234, "tests/t.py::test_a", 0)
    assert derive_seed(1235, "tests/t.py::test_a", 0) != base
    assert derive_seed(1234, "tests/t.py::test_b", 0) != base
    assert derive_seed(1234, "tests/t.py::test_a", 1) != base
    seeds = {derive_seed(7, f"t.py::test_{i}", r) for i in range(50) for r in range(20)}
    assert len(seeds) == 1000


def test_derive_seed_fits_in_63_bits() -> None:
    for i in range(2000):
        seed = derive_seed(i, f"node{i}", i % 7)
        assert 0 <= seed < 2**63
    # the top of the 63-bit range is reachable (it is not, say, a 32-bit value)
    assert max(derive_seed(1, f"n{i}") for i in range(200)) > 2**60


def test_draw_session_seed_is_positive_int() -> None:
    seeds = {draw_session_seed() for _ in range(20)}
    assert all(isinstance(s, int) and 1 <= s < 2**31 for s in seeds)
    assert len(seeds) > 1


def test_unit_draw_in_unit_interval_and_pure() -> None:
    draws = [unit_draw(5, "a", i) for i in range(1000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert draws == [unit_draw(5, "a", i) for i in range(1000)]
    assert unit_draw(5, "a", 1) != unit_draw(6, "a", 1)


def test_rng_for_is_reproducible() -> None:
    assert rng_for(9, "r#1").random() == rng_for(9, "r#1").random()
    assert rng_for(9, "r#1").random() != rng_for(9, "r#2").random()


def test_times_caps_firings() -> None:
    spec = parse_fault("crash", {"times": 2})
    assert should_fire(spec, 1, 0, "a", 1, fired=0)
    assert should_fire(spec, 1, 0, "a", 2, fired=1)
    assert not should_fire(spec, 1, 0, "a", 3, fired=2)
    assert not should_fire(spec, 1, 0, "a", 4, fired=5)


def test_at_call_selects_exact_calls() -> None:
    spec = parse_fault("crash", {"at_call": [2, 5]})
    fired = [n for n in range(1, 11) if should_fire(spec, 1, 0, "a", n, fired=0)]
    assert fired == [2, 5]


def test_at_call_with_times() -> None:
    spec = parse_fault("crash", {"at_call": [2, 5], "times": 1})
    assert should_fire(spec, 1, 0, "a", 5, fired=0)
    assert not should_fire(spec, 1, 0, "a", 5, fired=1)


@pytest.mark.parametrize("seed", [0, 1, 2**62])
def test_probability_zero_never_and_one_always(seed: int) -> None:
    never = parse_fault("crash", {"probability": 0})
    always = parse_fault("crash", {"probability": 1})
    assert not any(should_fire(never, seed, 0, "a", n, 0) for n in range(1, 2001))
    assert all(should_fire(always, seed, 0, "a", n, 0) for n in range(1, 2001))


def test_probability_fraction_over_10000_calls() -> None:
    spec = parse_fault("crash", {"probability": 0.3})
    fired = sum(should_fire(spec, 4242, 0, "pricing", n, 0) for n in range(1, 10_001))
    assert 0.27 <= fired / 10_000 <= 0.33


def test_probability_and_at_call_combined() -> None:
    spec = parse_fault("crash", {"probability": 0.5, "at_call": [3]})
    for n in (1, 2, 4):
        assert not any(should_fire(spec, s, 0, "a", n, 0) for s in range(200))
    hits = sum(should_fire(spec, s, 0, "a", 3, 0) for s in range(1000))
    assert 400 <= hits <= 600


def test_decisions_are_independent_of_call_order() -> None:
    spec = parse_fault("crash", {"probability": 0.3})
    calls = [(sel, n) for sel in ("pricing", "marketing", "listing") for n in range(1, 301)]
    in_order = {c for c in calls if should_fire(spec, 99, 1, c[0], c[1], 0)}
    shuffled = list(calls)
    random.Random(3).shuffle(shuffled)
    out_of_order = {c for c in shuffled if should_fire(spec, 99, 1, c[0], c[1], 0)}
    assert in_order == out_of_order
    assert 200 <= len(in_order) <= 340


def test_decisions_differ_by_seed_index_and_selector() -> None:
    spec = parse_fault("crash", {"probability": 0.5})

    def pattern(seed: int, index: int, selector: str) -> list[bool]:
        return [should_fire(spec, seed, index, selector, n, 0) for n in range(1, 65)]

    base = pattern(1, 0, "a")
    assert pattern(2, 0, "a") != base
    assert pattern(1, 1, "a") != base
    assert pattern(1, 0, "b") != base


def _fired_calls(run: ChaosRun) -> set[tuple[str, int | None]]:
    return {(f.target, f.call_number) for f in run.firings}


def test_chaos_run_schedule_independent_of_interleaving() -> None:
    """Same seed, calls of two agents interleaved differently: same firings per agent."""

    def make() -> ChaosRun:
        return ChaosRun(
            run_id="r",
            nodeid="t.py::t",
            seed=derive_seed(1, "t.py::t"),
            faults=[parse_fault("delay", {"probability": 0.4, "seconds": 0})],
        )

    def noop() -> None:
        return None

    from pytest_agentchaos.engine.calls import CallOptions

    order = ["a"] * 40 + ["b"] * 40
    first, second = make(), make()
    for name in order:
        first.call(name, noop, (), {}, CallOptions())
    shuffled = list(order)
    random.Random(11).shuffle(shuffled)
    for name in shuffled:
        second.call(name, noop, (), {}, CallOptions())
    assert _fired_calls(first) == _fired_calls(second)
    assert 10 <= len(_fired_calls(first)) <= 55


def test_fire_draw_is_pure_uniform_and_sensitive_to_every_argument() -> None:
    draws = [fire_draw(5, 0, "pricing", n) for n in range(1, 20_001)]
    assert draws == [fire_draw(5, 0, "pricing", n) for n in range(1, 20_001)]
    assert all(0.0 <= d < 1.0 for d in draws)
    deciles = [0] * 10
    for d in draws:
        deciles[int(d * 10)] += 1
    assert all(1_800 <= count <= 2_200 for count in deciles), deciles
    base = fire_draw(5, 0, "pricing", 1)
    others = [
        fire_draw(6, 0, "pricing", 1),
        fire_draw(5, 1, "pricing", 1),
        fire_draw(5, 0, "pricinh", 1),
        fire_draw(5, 0, "pricing", 2),
        fire_draw(2**63 - 1, 0, "pricing", 1),
    ]
    assert base not in others


def test_fire_draw_is_the_same_in_another_process() -> None:
    """No per-process salt (str hash randomisation): xdist workers draw the same schedule."""

    probe = (
        "from pytest_agentchaos.model.schedule import fire_draw;"
        "print([round(fire_draw(99, 2, 'agent-x', n), 12) for n in (1, 2, 3)])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": salt},
        ).stdout
        for salt in ("1", "2")
    }
    assert outputs == {str([round(fire_draw(99, 2, "agent-x", n), 12) for n in (1, 2, 3)]) + "\n"}
