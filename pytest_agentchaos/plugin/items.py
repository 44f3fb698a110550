"""What each collected test needs from the plugin, decided once when collection ends.

An autouse fixture costs every test a fixture set-up (about 0.05 ms on pytest 9), even when it
returns at once. The plugin has two, and most tests need neither:

- ``_agentchaos_apply_config`` applies an ``agentchaos_config`` override (or a direct
  parametrization of it) to a chaos test's run: kept only under ``--chaos``, for chaos tests
  for which ``agentchaos_config`` is not the plugin's own ``{}``;
- ``_agentchaos_cassette_marker`` puts a ``chaos_cassette`` test's cassette in use: kept only
  for tests with that marker.

Both stay autouse, so a test that keeps one sets it up where pytest puts autouse fixtures
(after the wider-scoped fixtures, before the test's own); the others have it taken out of their
fixture list, with ``request`` when only those fixtures put it there. A test pytest runs
without collecting it (no stash entry) keeps both, and each fixture decides for itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from pytest_agentchaos.plugin.keys import CONFIG_FIXTURE
from pytest_agentchaos.plugin.validation import CASSETTE_MARKER

APPLY_CONFIG_FIXTURE = "_agentchaos_apply_config"
CASSETTE_MARKER_FIXTURE = "_agentchaos_cassette_marker"
REQUEST = "request"
#: Fixtures whose tests get a chaos run (recorded) even without a chaos marker.
CHAOS_FIXTURES = frozenset({"agentchaos", "agentchaos_bus", "agentchaos_openai"})
#: Whether a collected test gets a chaos run under ``--chaos``.
CHAOS_TEST_KEY = pytest.StashKey[bool]()
_DEFAULT_CONFIG_MODULE = "pytest_agentchaos.plugin.fixtures"


def is_chaos_test(item_markers: Iterable[pytest.Mark], fixturenames: Iterable[str]) -> bool:
    return not CHAOS_FIXTURES.isdisjoint(fixturenames) or any(
        m.name.startswith("chaos_") for m in item_markers
    )


def gets_chaos_run(item: pytest.Item) -> bool:
    """Whether ``item`` gets a chaos run: decided at collection, else now."""
    decided = item.stash.get(CHAOS_TEST_KEY, None)
    if decided is not None:
        return decided
    return is_chaos_test(item.iter_markers(), getattr(item, "fixturenames", ()))


def prepare_items(items: list[pytest.Item], chaos: bool) -> None:
    """Record which items get a chaos run, and drop the autouse fixtures they do not need."""
    overridden: dict[int, bool] = {}
    for item in items:
        names = getattr(item, "fixturenames", None)
        if not isinstance(names, list):
            continue  # not a pytest.Function: its fixtures decide for themselves
        marks = {mark.name for mark in item.iter_markers() if mark.name.startswith("chaos_")}
        chaos_test = chaos and (bool(marks) or not CHAOS_FIXTURES.isdisjoint(names))
        item.stash[CHAOS_TEST_KEY] = chaos_test
        drop = set()
        if not chaos_test or not _config_overridden(item, overridden):
            drop.add(APPLY_CONFIG_FIXTURE)
        if CASSETTE_MARKER not in marks:
            drop.add(CASSETTE_MARKER_FIXTURE)
        if drop.isdisjoint(names):
            continue
        if REQUEST not in _asked_for_by_name(item):
            # In the list only as our fixtures' argument (pytest hands a fixture its request
            # without it), yet filling it costs each test a RequestFixtureDef.
            drop.add(REQUEST)
        # A new list: items of one parametrized function share pytest's.
        item.fixturenames = [name for name in names if name not in drop]  # type: ignore[attr-defined]


def _asked_for_by_name(item: pytest.Item) -> tuple[str, ...]:
    """The fixtures the test function, ``usefixtures`` and autouse fixtures name; all of
    them, ``request`` included, when pytest does not say."""
    info = getattr(item, "_fixtureinfo", None)
    names = getattr(info, "initialnames", None)
    return names if isinstance(names, tuple) else (REQUEST,)


def _config_overridden(item: pytest.Item, by_parent: dict[int, bool]) -> bool:
    """Whether ``agentchaos_config`` may be something other than the plugin's ``{}`` for
    ``item``: overridden by a conftest, module or class, or parametrized directly. ``True``
    when pytest cannot tell us (the fixture then asks, as it always did)."""
    callspec: Any = getattr(item, "callspec", None)
    if callspec is not None and CONFIG_FIXTURE in callspec.params:
        return True
    # Fixtures are defined on modules, classes and conftest folders: siblings see the same.
    key = id(item.parent)
    if key not in by_parent:
        by_parent[key] = _closest_config_is_not_ours(item)
    return by_parent[key]


def _closest_config_is_not_ours(item: pytest.Item) -> bool:
    try:
        # pytest >= 8.1 takes the node; no public API answers "which definition wins here".
        definitions = item.session._fixturemanager.getfixturedefs(CONFIG_FIXTURE, item)
        closest = definitions[-1].func if definitions else None
    except Exception:  # another pytest: the fixture finds out at set-up, as it always did
        return True
    return getattr(closest, "__module__", None) != _DEFAULT_CONFIG_MODULE
