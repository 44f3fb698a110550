"""Messages per second through the message bus, measured side by side in one run.

    python bench/bus.py

Conditions, each a ``send()`` to a trivial handler on one link:

- no chaos run active (the bus only validates and delivers);
- a chaos run with no message fault armed (send and delivery events are recorded);
- a run with every message fault kind armed, matching the link, at ``probability=0``: the seeded
  schedule is consulted on every delivery and nothing fires;
- beside them, a raw ``queue.Queue`` put/get hand-off of the same message, for scale.

Each condition is measured with contract validation on (the default) and off, in rounds that
take turns. Ratios matter, not absolute numbers. Not a test: nothing asserts.
"""

from __future__ import annotations

import queue
import sys
import time
from collections.abc import Callable

from pytest_agentchaos.bus import MESSAGE_FAULT_KINDS, MessageBus
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault
from pytest_agentchaos.protocol import Message

MESSAGES = 5_000
ROUNDS = 15
MESSAGE = Message.create(
    "TASK_ASSIGN", "listing", "pricing", task="price", parameters={"sku": "A-1", "cost": 5}
)


def through_bus(*, validate: bool, run: Callable[[], ChaosRun | None]) -> Callable[[], float]:
    """One round: ``MESSAGES`` sends through a fresh bus (and run); returns the seconds taken."""

    def once() -> float:
        chaos = run()
        activate(chaos)
        try:
            with MessageBus(validate=validate) as bus:
                bus.register("pricing", lambda message: None)
                send = bus.send
                started = time.perf_counter()
                for _ in range(MESSAGES):
                    send(MESSAGE)
                return time.perf_counter() - started
        finally:
            activate(None)

    return once


def through_queue() -> float:
    box: queue.Queue[Message] = queue.Queue()
    put, get = box.put, box.get
    started = time.perf_counter()
    for _ in range(MESSAGES):
        put(MESSAGE)
        get()
    return time.perf_counter() - started


def no_run() -> None:
    return None


def empty_run() -> ChaosRun:
    return ChaosRun(run_id="bench", nodeid="bench", seed=1)


def armed_run() -> ChaosRun:
    faults = [
        parse_fault(kind, {"sender": "listing", "receiver": "pricing", "probability": 0.0})
        for kind in sorted(MESSAGE_FAULT_KINDS)
    ]
    return ChaosRun(run_id="bench", nodeid="bench", seed=1, faults=faults)


CONDITIONS = ("no chaos run", "chaos run, no fault armed", "chaos run, 7 faults armed, p=0")


def measure() -> dict[tuple[bool | None, str], float]:
    """Messages per second of every condition. Rounds take turns, so a burst of load elsewhere
    on the machine hits every condition alike; each keeps its best (least disturbed) round."""
    rounds: dict[tuple[bool | None, str], Callable[[], float]] = {(None, "queue"): through_queue}
    for validate in (True, False):
        for name, factory in zip(CONDITIONS, (no_run, empty_run, armed_run), strict=True):
            rounds[validate, name] = through_bus(validate=validate, run=factory)
    best = dict.fromkeys(rounds, float("inf"))
    for _ in range(ROUNDS):
        for key, once in rounds.items():
            best[key] = min(best[key], once())
    return {key: MESSAGES / seconds for key, seconds in best.items()}


def main() -> int:
    version = sys.version.split()[0]
    print(f"{MESSAGES} sends to a trivial handler, best of {ROUNDS} rounds; python {version}")
    rates = measure()
    raw = rates[None, "queue"]
    print(f"{'queue.Queue put/get (raw hand-off)':<46}{raw:>12,.0f} msg/s")
    for validate in (True, False):
        print(f"validate={validate}")
        for name in CONDITIONS:
            rate = rates[validate, name]
            print(f"  {name:<44}{rate:>12,.0f} msg/s   {raw / rate:5.1f}x queue")
        ratio = rates[validate, CONDITIONS[1]] / rates[validate, CONDITIONS[2]]
        print(f"  armed / no fault: {ratio:.2f}x the time per message (target <= 2x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
