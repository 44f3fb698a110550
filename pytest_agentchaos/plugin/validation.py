"""Marker validation, once, for every marker the plugin owns: a bad value is a usage error.

Each marker family (``chaos_<kind>``/``chaos_settings``/``chaos_scenario``, ``chaos_bus``,
``chaos_cassette``) is read here when tests are collected, and what it says is kept in the
item's stash for the fixtures. Serially, a bad marker raises :class:`pytest.UsageError`
(exit code 4) naming the test, the argument, the bad value and the good ones. An xdist worker
cannot raise one (the controller would print an INTERNALERROR): it fails the collection of the
module instead, with the same message, and :class:`XdistUsageErrors` on the controller turns
that into exit code 4 as well.

The fault models (pydantic) load only when a collected test carries a fault marker.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentchaos.config.bus_options import BUS_OPTIONS, check_bus_options
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.integrations.cassettes import check_record_mode

if TYPE_CHECKING:
    from pytest_agentchaos.model.faults import FaultSpec
    from pytest_agentchaos.strategies.registry import StrategyRegistry

BUS_MARKER = "chaos_bus"
CASSETTE_MARKER = "chaos_cassette"
#: chaos_* markers that configure fixtures, not faults.
FIXTURE_MARKERS = frozenset({BUS_MARKER, CASSETTE_MARKER})
_CASSETTE_ARGUMENTS = ("path", "record_mode")

#: What a test's fault markers say: its faults, and its chaos_settings.
Faults = tuple[tuple["FaultSpec", ...], dict[str, Any]]
FAULTS_KEY = pytest.StashKey[Faults]()
BUS_OPTIONS_KEY = pytest.StashKey[dict[str, Any]]()
CASSETTE_KEY = pytest.StashKey[tuple[str | None, str | None]]()
_REGISTRY_KEY: pytest.StashKey[StrategyRegistry] = pytest.StashKey()

#: The heading of every marker problem; the xdist controller recognises a worker's by it.
_HEADING = re.compile(r"^bad chaos\w* marker arguments:", re.M)
NO_FAULTS: Faults = ((), {})


# ------------------------------------------------------------------ marker families
def bus_options(marks: Iterable[pytest.Mark]) -> dict[str, Any]:
    """The options of a test's ``chaos_bus`` markers (closest first), the closest winning."""
    marks = list(marks)
    if not marks:
        return {}  # the defaults, which need no checking: most tests
    merged: dict[str, Any] = {}
    for mark in reversed(marks):
        if mark.args:
            raise ChaosConfigError(
                f"{BUS_MARKER} takes keyword arguments only ({', '.join(BUS_OPTIONS)}), "
                f"got positional {mark.args!r}"
            )
        merged.update(mark.kwargs)
    check_bus_options(merged, BUS_MARKER)
    return merged


def cassette_settings(marker: pytest.Mark) -> tuple[str | None, str | None]:
    """``(path, record_mode)`` of a ``chaos_cassette`` marker, checked."""
    if len(marker.args) > 1:
        raise ChaosConfigError(
            f"{CASSETTE_MARKER} takes at most one positional argument (the path), "
            f"got {len(marker.args)}"
        )
    for name in marker.kwargs:
        if name not in _CASSETTE_ARGUMENTS:
            raise ChaosConfigError(
                f"{CASSETTE_MARKER}: unknown argument {name!r}; "
                f"allowed arguments: {', '.join(_CASSETTE_ARGUMENTS)}"
            )
    path = marker.kwargs.get("path", marker.args[0] if marker.args else None)
    if path is not None and not isinstance(path, str | Path):
        raise ChaosConfigError(f"{CASSETTE_MARKER}: argument path={path!r}: must be a path")
    mode = marker.kwargs.get("record_mode")
    if mode is not None:
        check_record_mode(mode, f"{CASSETTE_MARKER}: argument record_mode")
    return (str(path) if path is not None else None), mode


def _faults(item: pytest.Item) -> Faults:
    marks = [
        mark
        for mark in item.iter_markers()
        if mark.name.startswith("chaos_") and mark.name not in FIXTURE_MARKERS
    ]
    if not marks:
        return NO_FAULTS  # no fault marker: the fault models need not load
    from pytest_agentchaos.config.markers import chaos_from_marks

    faults = chaos_from_marks(marks, [item.path.parent, item.config.rootpath])
    strategies = faults[1].get("strategy", ())
    if strategies:
        strategy_registry(item.config).validate(tuple(strategies))
    return faults


def strategy_registry(config: pytest.Config) -> StrategyRegistry:
    """The strategies known to this session (``@hookimpl`` plugins and conftest files), to
    check names against, with or without ``--chaos``."""
    registry = config.stash.get(_REGISTRY_KEY, None)
    if registry is None:
        from pytest_agentchaos.strategies.registry import StrategyRegistry, has_hookimpls

        registry = StrategyRegistry()
        for plugin in config.pluginmanager.get_plugins():
            if has_hookimpls(plugin):
                registry.register(plugin)
        config.stash[_REGISTRY_KEY] = registry
    return registry


def use_registry(config: pytest.Config, registry: StrategyRegistry) -> None:
    """Check strategy names against ``registry`` (a chaos session's own)."""
    config.stash[_REGISTRY_KEY] = registry


def _bus(item: pytest.Item) -> dict[str, Any]:
    return bus_options(item.iter_markers(BUS_MARKER))


def _cassette(item: pytest.Item) -> tuple[str | None, str | None]:
    marker = item.get_closest_marker(CASSETTE_MARKER)
    return cassette_settings(marker) if marker is not None else (None, None)


#: (heading, stash key, reader) of each marker family, in the order problems are listed.
_FAMILIES: tuple[tuple[str, pytest.StashKey[Any], Callable[[pytest.Item], Any]], ...] = (
    ("bad chaos marker arguments", FAULTS_KEY, _faults),
    (f"bad {BUS_MARKER} marker arguments", BUS_OPTIONS_KEY, _bus),
    (f"bad {CASSETTE_MARKER} marker arguments", CASSETTE_KEY, _cassette),
)


# ------------------------------------------------------------------------- checking
def check_items(items: list[pytest.Item]) -> str | None:
    """Read every item's markers once into its stash; the problems, each naming its test,
    as one message (``None`` when all are good)."""
    for item in items:
        if FAULTS_KEY not in item.stash and not _has_chaos_marker(item):
            # Most tests: nothing to read or check (what each family reads from no marker).
            item.stash[FAULTS_KEY] = NO_FAULTS
            item.stash[BUS_OPTIONS_KEY] = {}
            item.stash[CASSETTE_KEY] = (None, None)
    sections = []
    for heading, key, read in _FAMILIES:
        problems = []
        for item in items:
            if key in item.stash:
                continue
            try:
                item.stash[key] = read(item)
            except ChaosConfigError as error:
                problems.append(f"{item.nodeid}: {error}")
        if problems:
            sections.append(f"{heading}:\n  " + "\n  ".join(problems))
    return "\n".join(sections) or None


def _has_chaos_marker(item: pytest.Item) -> bool:
    return any(mark.name.startswith("chaos_") for mark in item.iter_markers())


def usage_error(error: ChaosConfigError) -> pytest.UsageError:
    """A bad option, ini value or marker as pytest's usage error (exit code 4)."""
    return pytest.UsageError(str(error))


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = check_items(items)
    if problems:
        raise pytest.UsageError(problems)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    if not is_worker(collector.config) or report.failed:
        return report
    problems = check_items([node for node in report.result if isinstance(node, pytest.Item)])
    if problems:
        report.outcome = "failed"
        report.longrepr = problems
        report.result = []
    return report


class XdistUsageErrors:
    """On the xdist controller: a worker's bad marker ends the session with exit code 4."""

    def __init__(self) -> None:
        self.seen = False

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed and _HEADING.search(str(report.longrepr)):
            self.seen = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.seen:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR


def register_xdist_usage_errors(config: pytest.Config) -> None:
    if not is_worker(config) and config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistUsageErrors(), "agentchaos-usage-errors")
