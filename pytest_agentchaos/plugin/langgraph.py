"""The ``chaos_langgraph`` ini key: ``auto`` instruments every LangGraph graph compiled while a
chaos test runs; ``off`` (the default) leaves graphs alone unless ``instrument()`` is called.

LangGraph loads only when the key is ``auto`` and ``--chaos`` is on.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_agentchaos.errors import ChaosConfigError

INI = "chaos_langgraph"
MODES = ("auto", "off")
_UNDO_KEY = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI,
        "auto: instrument every LangGraph graph compiled during a chaos test; off (default)",
        default="off",
    )


def langgraph_mode(config: pytest.Config) -> str:
    value = str(config.getini(INI) or "off").strip().lower()
    if value not in MODES:
        raise ChaosConfigError(
            f"ini {INI}={config.getini(INI)!r}: must be one of {', '.join(MODES)}"
        )
    return value


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    try:
        mode = langgraph_mode(config)
    except ChaosConfigError as error:
        raise pytest.UsageError(str(error)) from None
    enabled = config.getoption("chaos") or (
        config.getoption("chaos") is None and config.getini("chaos")
    )
    if mode == "auto" and enabled:
        from pytest_agentchaos.integrations.langgraph.auto import instrument_compiled_graphs

        config.stash[_UNDO_KEY] = instrument_compiled_graphs()


def pytest_unconfigure(config: pytest.Config) -> None:
    undo = config.stash.get(_UNDO_KEY, None)
    if undo is not None:
        undo()
