"""The in-process message bus: deliveries pass through the active run's message faults.

Public path: ``pytest_agentchaos.bus``. The modules inside are private.
"""

from pytest_agentchaos.bus.message_bus import (
    BUS_OPTIONS,
    DELIVERY_MODES,
    MESSAGE_FAULT_KINDS,
    BusError,
    BusOptions,
    DeliveryError,
    DeliveryTimeout,
    Handler,
    MessageBus,
    check_bus_options,
    garble,
)

__all__ = [
    "BUS_OPTIONS",
    "DELIVERY_MODES",
    "MESSAGE_FAULT_KINDS",
    "BusError",
    "BusOptions",
    "DeliveryError",
    "DeliveryTimeout",
    "Handler",
    "MessageBus",
    "check_bus_options",
    "garble",
]
