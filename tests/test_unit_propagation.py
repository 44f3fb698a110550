"""Propagation tracking costs the same per call however many corruptions a run has seen
(issue 9): corruptions are indexed by their replacement value, not scanned on every call."""

from __future__ import annotations

import time
from typing import Any

from pytest_agentchaos.engine.injection import activate, agent
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault


@agent("pricing")
def price(sku: int) -> dict[str, Any]:
    return {"sku": sku, "price": 19.99, "title": "tea"}


@agent("marketing")
def advertise(offer: dict[str, Any], note: str = "") -> str:
    return f"{offer['title']} at {offer['price']}"


def _batch(calls: int, start: int) -> float:
    """Seconds per pricing + marketing call pair over ``calls`` pairs."""
    began = time.perf_counter()
    for sku in range(start, start + calls):
        advertise(price(sku))
    return (time.perf_counter() - began) / calls


def test_per_call_cost_stays_flat_as_corruptions_accumulate() -> None:
    run = ChaosRun(
        run_id="p",
        nodeid="t",
        seed=3,
        faults=[parse_fault("hallucination", {"target": "pricing", "probability": 0.02})],
    )
    previous = activate(run)
    try:
        early = min(_batch(300, 0), _batch(300, 300))
        _batch(15_000, 1_000)  # some 300 corrupted values handed on
        late = min(_batch(300, 20_000), _batch(300, 20_300))
    finally:
        activate(previous)
    corruptions = len(run.corruptions)
    assert corruptions > 200
    received = sum(1 for event in run.events if event[2] == "corruption_received")
    assert received > 200  # the marketing calls did receive the wrong values
    # Scanning every corruption made this ~50x slower; 3x leaves room for a loaded machine.
    assert late < 3 * early, (early, late, corruptions)


@agent("tagger")
def tag(sku: int) -> dict[str, Any]:
    return {"sku": sku, "tags": ["green", "loose"]}


@agent("shelf")
def shelve(offer: dict[str, Any]) -> int:
    return len(offer)


def test_a_corrupted_list_is_found_in_a_later_call_and_other_shapes_are_not() -> None:
    wrong = ["black", "bagged"]
    hallucination = {"target": "tagger", "field": "tags", "value": wrong, "at_call": [1]}
    run = ChaosRun(
        run_id="c", nodeid="t", seed=3, faults=[parse_fault("hallucination", hallucination)]
    )
    previous = activate(run)
    try:
        assert tag(1)["tags"] == wrong
        shelve({"tags": list(wrong)})  # an equal list, not the same object: carried
        shelve({"tags": ["black"], "a": "black", "b": "bagged"})  # its items, other shapes: not
        shelve({"offer": {"sku": 2, "tags": ["black", "bagged"]}})  # nested deeper: carried
    finally:
        activate(previous)
    received = [e for e in run.events if e[2] == "corruption_received"]
    assert [(e[1], e[4]) for e in received] == [("shelf", "tags"), ("shelf", "tags")]
    assert [f.propagation for f in run.firings] == [2]
