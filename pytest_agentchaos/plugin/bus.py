"""pytest fixtures and markers for the message bus (``agentchaos_bus``).

The bus is configured per test with ``@pytest.mark.chaos_bus(delivery=..., ack_timeout=...,
max_redeliveries=..., validate=...)``; its message faults come from the ``chaos_<kind>`` markers
that :mod:`pytest_agentchaos.plugin` already reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

# Only the options here: the bus itself (asyncio and all) loads when a test asks for it, not
# at every pytest start-up.
from pytest_agentchaos.config.bus_options import BUS_OPTIONS, DELIVERY_MODES, check_bus_options
from pytest_agentchaos.errors import ChaosConfigError

if TYPE_CHECKING:
    from pytest_agentchaos.bus.message_bus import MessageBus

MARKER = "chaos_bus"
OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}({', '.join(BUS_OPTIONS)}): how the agentchaos_bus fixture delivers "
        f"(delivery: {' or '.join(DELIVERY_MODES)}; ack_timeout seconds; "
        "max_redeliveries; validate: check message contracts)",
    )


def bus_options(marks: Iterable[pytest.Mark]) -> dict[str, Any]:
    """The options of the ``chaos_bus`` markers of one test, the closest marker winning."""
    merged: dict[str, Any] = {}
    for mark in reversed(list(marks)):
        if mark.args:
            raise ChaosConfigError(
                f"{MARKER} takes keyword arguments only ({', '.join(BUS_OPTIONS)}), "
                f"got positional {mark.args!r}"
            )
        merged.update(mark.kwargs)
    check_bus_options(merged, MARKER)
    return merged


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = []
    for item in items:
        try:
            item.stash[OPTIONS_KEY] = bus_options(item.iter_markers(MARKER))
        except ChaosConfigError as error:
            problems.append(f"{item.nodeid}: {error}")
    if problems:
        raise pytest.UsageError("bad chaos_bus marker arguments:\n  " + "\n  ".join(problems))


@pytest.fixture
def agentchaos_bus(request: pytest.FixtureRequest) -> Iterator[MessageBus]:
    """An in-process message bus whose deliveries pass through this test's message faults.

    Configure it with ``@pytest.mark.chaos_bus(delivery="at_least_once", ...)``; it is closed
    (delayed deliveries cancelled) when the test ends.
    """
    options = request.node.stash.get(OPTIONS_KEY, None)
    if options is None:  # an item that was not collected the usual way
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
