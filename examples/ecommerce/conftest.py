"""Fixtures for the ecommerce chaos suite: a swarm per test, and its steady-state check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecommerce_swarm import Swarm, SwarmResult, load_scenario
from ecommerce_swarm.steady_state import violations

Launch = Callable[..., SwarmResult]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """``launch("product_launch_campaign", products=5)``: run a scenario, check its steady
    state, and hand back the result."""
    swarms: list[Swarm] = []

    def run(name: str, *, products: int | None = None, **options: Any) -> SwarmResult:
        scenario = load_scenario(name)
        if products is not None:
            scenario = scenario.with_volume(products)
        swarm = Swarm(scenario, seed=options.pop("seed", 7), **options)
        swarms.append(swarm)
        result = swarm.run()
        problems = violations(result.state, scenario.steady_state)
        assert not problems, f"steady state broken: {problems}"
        return result

    yield run
    for swarm in swarms:
        swarm.close()
