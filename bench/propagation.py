"""What tracking corrupted values costs per call as a run's corruptions pile up.

    python bench/propagation.py [--quick]

One run, two agents: ``pricing`` returns an offer, hallucinated at probability 0.01, and
``marketing`` is handed each offer, so every call of it is checked for the corrupted values
seen so far (``corruption_received``). The cost per call pair is measured in a window of 1,000
pairs after 1e3, 1e4 and 1e5 pairs (``--quick``: up to 3e4), beside the same loop with no
fault armed, as this process's CPU time (``time.process_time``), best of 3 windows. The target
(issue 9): within 1.5x from 1e3 to 1e5. Ratios matter, not absolute numbers. Not a test.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from pytest_agentchaos import agent
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault

WINDOW = 1_000


@agent("pricing")
def price(sku: int) -> dict[str, Any]:
    return {"sku": sku, "price": 19.99, "title": "tea", "tags": ["green", "loose"]}


@agent("marketing")
def advertise(offer: dict[str, Any]) -> str:
    return f"{offer['title']} at {offer['price']}"


def pairs(start: int, count: int) -> None:
    for sku in range(start, start + count):
        advertise(price(sku))


def window(start: int) -> float:
    """CPU µs per call pair, best of 3 windows starting at ``start``."""
    best = float("inf")
    for round_ in range(3):
        began = time.process_time()
        pairs(start + round_ * WINDOW, WINDOW)
        best = min(best, time.process_time() - began)
    return best / WINDOW * 1e6


def measure(checkpoints: list[int], faults: list[Any]) -> tuple[list[float], ChaosRun]:
    run = ChaosRun(run_id="bench", nodeid="bench", seed=7, faults=faults)
    previous = activate(run)
    done, costs = 0, []
    try:
        for checkpoint in checkpoints:
            pairs(done, checkpoint - done)
            costs.append(window(checkpoint))
            done = checkpoint + 3 * WINDOW
            run.log.clear()  # the log's memory is not what this measures
    finally:
        activate(previous)
    return costs, run


def main() -> int:
    checkpoints = [1_000, 10_000, 30_000] if "--quick" in sys.argv[1:] else [1_000, 10_000, 100_000]
    hallucination = parse_fault("hallucination", {"target": "pricing", "probability": 0.01})
    with_faults, run = measure(checkpoints, [hallucination])
    without, _ = measure(checkpoints, [])
    print(f"python {sys.version.split()[0]} · CPU µs per pricing+marketing call pair")
    header = ("pairs so far", "corrupted", "hallucination", "no fault", "vs 1e3")
    print("{:>12} {:>10} {:>14} {:>9} {:>7}".format(*header))
    corrupted = len(run.corruptions)
    for at, cost, plain in zip(checkpoints, with_faults, without, strict=True):
        share = round(corrupted * at / (checkpoints[-1] + 3 * WINDOW))
        ratio = cost / with_faults[0]
        print(f"{at:>12,} {'~' + str(share):>10} {cost:>14.2f} {plain:>9.2f} {ratio:6.2f}x")
    print(f"corrupted values handed on in all: {corrupted}; target: last row within 1.5x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
