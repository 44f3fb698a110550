"""pytest fixtures and markers for the message bus (``agentchaos_bus``).

The bus is configured per test with ``@pytest.mark.chaos_bus(delivery=..., ack_timeout=...,
max_redeliveries=..., validate=...)``; its message faults come from the ``chaos_<kind>`` markers
that :mod:`pytest_agentchaos.plugin` already reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

# Only the options here: the bus itself (asyncio and all) loads when a test asks for it, not
# at every pytest start-up.
from pytest_agentchaos.config.bus_options import BUS_OPTIONS, DELIVERY_MODES
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.plugin.validation import BUS_MARKER as MARKER
from pytest_agentchaos.plugin.validation import BUS_OPTIONS_KEY, bus_options

if TYPE_CHECKING:
    from pytest_agentchaos.bus.message_bus import MessageBus


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}({', '.join(BUS_OPTIONS)}): how the agentchaos_bus fixture delivers "
        f"(delivery: {' or '.join(DELIVERY_MODES)}; ack_timeout seconds; "
        "max_redeliveries; validate: check message contracts)",
    )


@pytest.fixture
def agentchaos_bus(request: pytest.FixtureRequest) -> Iterator[MessageBus]:
    """An in-process message bus whose deliveries pass through this test's message faults.

    Configure it with ``@pytest.mark.chaos_bus(delivery="at_least_once", ...)``; it is closed
    (delayed deliveries cancelled) when the test ends.
    """
    options = request.node.stash.get(BUS_OPTIONS_KEY, None)
    if options is None:  # an item that was not collected the usual way (validation.py)
        try:
            options = bus_options(request.node.iter_markers(MARKER))
        except ChaosConfigError as error:
            raise pytest.UsageError(f"{request.node.nodeid}: {error}") from None
    from pytest_agentchaos.bus.message_bus import MessageBus

    bus = MessageBus(**options)
    try:
        yield bus
    finally:
        bus.close()
