"""Reading a test's chaos markers into its faults and settings (no pytest needed).

``chaos_<kind>(...)`` arms a fault, ``chaos_scenario(name)`` the faults of a YAML scenario, and
``chaos_settings(...)`` sets per-test settings. Markers closest to the test win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from pytest_agentchaos.config.scenario import find_scenario, load_scenario
from pytest_agentchaos.config.settings import check_test_settings
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import FaultSpec, parse_fault
from pytest_agentchaos.model.kinds import FAULT_KINDS

PREFIX = "chaos_"


class MarkLike(Protocol):
    """What pytest's ``Mark`` offers (and a test can build by hand)."""

    @property
    def name(self) -> str: ...
    @property
    def args(self) -> tuple[Any, ...]: ...
    @property
    def kwargs(self) -> Mapping[str, Any]: ...


def chaos_from_marks(
    marks: Iterable[MarkLike], search_dirs: Sequence[Path]
) -> tuple[tuple[FaultSpec, ...], dict[str, Any]]:
    """The faults and settings of a test's marks, given closest first (as pytest does)."""
    faults: list[FaultSpec] = []
    settings: dict[str, Any] = {}
    # Walked farthest first, so the test's own settings override its class's and module's.
    for mark in reversed(list(marks)):
        if not mark.name.startswith(PREFIX):
            continue
        kind = mark.name[len(PREFIX) :]
        if kind == "settings":
            if mark.args:
                raise ChaosConfigError("chaos_settings takes keyword arguments only")
            settings.update(check_test_settings(mark.kwargs, "chaos_settings"))
        elif kind == "scenario":
            if len(mark.args) != 1 or mark.kwargs:
                raise ChaosConfigError("chaos_scenario takes one argument: a name or a path")
            scenario = load_scenario(find_scenario(str(mark.args[0]), list(search_dirs)))
            faults.extend(scenario.faults)
            settings.update(scenario.settings)
        elif kind in FAULT_KINDS:
            faults.append(_fault(kind, mark))
        else:
            raise ChaosConfigError(
                f"unknown chaos marker chaos_{kind}; fault kinds: "
                f"{', '.join(FAULT_KINDS)}; also chaos_scenario, chaos_settings"
            )
    return tuple(faults), settings


def _fault(kind: str, mark: MarkLike) -> FaultSpec:
    arguments = dict(mark.kwargs)
    if len(mark.args) > 1:
        raise ChaosConfigError(
            f"chaos_{kind} takes at most one positional argument (the target), got {len(mark.args)}"
        )
    if mark.args:
        arguments.setdefault("target", mark.args[0])
    return parse_fault(kind, arguments)
