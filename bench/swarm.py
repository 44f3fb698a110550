"""What chaos instrumentation costs the ecommerce swarm, side by side in one run.

    python bench/swarm.py [--products 20] [--runs 15]

The product launch scenario (20 products by default) three ways, on one swarm each, built once:
plain (not instrumented), instrumented outside a chaos run (what a suite pays without
``--chaos``), and instrumented inside a chaos run whose only fault never fires (what
``--chaos`` costs before any fault). Runs are interleaved so machine load moves all three alike;
the median and the fastest of each are printed with their ratio to plain. Not a test: nothing
here asserts. The chaos run is driven the way the plugin drives it (engine internals, as in
bench/overhead.py), without pytest and without the event store.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

# Run as a script, this folder comes first on sys.path, and bench/langgraph.py would shadow the
# langgraph package the swarm imports: drop the folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from ecommerce_swarm import Swarm, load_scenario  # noqa: E402
from pytest_agentchaos import parse_fault  # noqa: E402
from pytest_agentchaos.engine.injection import activate  # noqa: E402
from pytest_agentchaos.engine.run import ChaosRun  # noqa: E402


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    scenario = load_scenario("product_launch_campaign").with_volume(args.products)
    plain = Swarm(scenario, seed=7, instrumented=False)
    instrumented = Swarm(scenario, seed=7)
    products = plain.products()
    chaos = ChaosRun(
        run_id="bench",
        nodeid="bench",
        seed=1,
        faults=[parse_fault("crash", {"target": "a-node-that-does-not-exist"})],
    )

    def under_chaos(thread: str) -> None:
        chaos.log.clear()
        activate(chaos)
        try:
            instrumented.run(products, thread=thread)
        finally:
            activate(None)

    times: dict[str, list[float]] = {
        "plain": [],
        "instrumented, no --chaos": [],
        "--chaos, no fault fires": [],
    }
    for number in range(args.runs + 2):  # two warm-up rounds, not counted
        thread = f"t{number}"
        rounds = {
            "plain": timed(partial(plain.run, products, thread=thread)),
            "instrumented, no --chaos": timed(partial(instrumented.run, products, thread=thread)),
            "--chaos, no fault fires": timed(partial(under_chaos, "c" + thread)),
        }
        if number >= 2:
            for name, seconds in rounds.items():
                times[name].append(seconds)
    base = statistics.median(times["plain"])
    print(f"product_launch_campaign, {args.products} products, {args.runs} runs each (interleaved)")
    print(f"{'condition':28} {'median':>10} {'fastest':>10} {'x plain':>8}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:28} {median * 1e3:8.1f} ms {min(values) * 1e3:8.1f} ms {median / base:7.2f}x")
    plain.close()
    instrumented.close()


if __name__ == "__main__":
    main()
