"""How a message bus delivers: its options, their validation, and the view its parts read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, cast

from pytest_agentchaos.errors import ChaosConfigError

__all__ = ["BUS_OPTIONS", "DELIVERY_MODES", "BusOptions", "DeliverySettings", "check_bus_options"]

DELIVERY_MODES: tuple[str, ...] = ("at_most_once", "at_least_once")
BUS_OPTIONS: tuple[str, ...] = ("delivery", "ack_timeout", "max_redeliveries", "validate")


class DeliverySettings(Protocol):
    """The options as the bus's parts read them: from the bus itself, at each use, so that
    they are the bus's attributes and nowhere else."""

    @property
    def delivery(self) -> str: ...

    @property
    def ack_timeout(self) -> float: ...

    @property
    def max_redeliveries(self) -> int: ...

    @property
    def validate(self) -> bool: ...


@dataclass(frozen=True)
class BusOptions:
    """How a :class:`~pytest_agentchaos.bus.MessageBus` delivers (see :func:`check_bus_options`)."""

    delivery: str = "at_most_once"
    ack_timeout: float = 0.05
    max_redeliveries: int = 3
    validate: bool = True


def check_bus_options(values: Mapping[str, object], source: str = "MessageBus") -> BusOptions:
    """Validate bus options; :class:`ChaosConfigError` names the argument, value and choices."""
    for name in values:
        if name not in BUS_OPTIONS:
            raise ChaosConfigError(
                f"{source}: unknown argument {name!r}; allowed arguments: {', '.join(BUS_OPTIONS)}"
            )
    defaults = BusOptions()
    delivery = values.get("delivery", defaults.delivery)
    if delivery not in DELIVERY_MODES:
        choices = ", ".join(repr(mode) for mode in DELIVERY_MODES)
        raise ChaosConfigError(
            f"{source}: argument delivery={delivery!r}: must be one of {choices}"
        )
    ack_timeout = values.get("ack_timeout", defaults.ack_timeout)
    if not _is_number(ack_timeout) or not 0 < cast(float, ack_timeout) < float("inf"):
        raise ChaosConfigError(
            f"{source}: argument ack_timeout={ack_timeout!r}: must be a number of seconds > 0"
        )
    redeliveries = values.get("max_redeliveries", defaults.max_redeliveries)
    if not isinstance(redeliveries, int) or isinstance(redeliveries, bool) or redeliveries < 0:
        raise ChaosConfigError(
            f"{source}: argument max_redeliveries={redeliveries!r}: must be a whole number >= 0"
        )
    validate = values.get("validate", defaults.validate)
    if not isinstance(validate, bool):
        raise ChaosConfigError(f"{source}: argument validate={validate!r}: must be True or False")
    return BusOptions(str(delivery), float(cast(float, ack_timeout)), redeliveries, validate)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
