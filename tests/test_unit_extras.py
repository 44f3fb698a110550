"""Features behind optional extras fail with a message naming the extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

from pytest_agentchaos import MissingExtraError
from pytest_agentchaos.report.stats import compare_rates, compare_times


def test_comparisons_without_scipy_name_the_stats_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)  # None makes the import fail
    with pytest.raises(MissingExtraError, match=r"needs scipy.*pytest-agentchaos\[stats\]"):
        compare_rates(1, 2, 2, 2)
    with pytest.raises(MissingExtraError, match=r"pytest-agentchaos\[stats\]"):
        compare_times([0.1], [0.2])


def test_openai_integration_without_httpx2_names_the_llm_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx2", None)
    for name in [m for m in sys.modules if m.startswith("pytest_agentchaos.integrations.openai")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(MissingExtraError, match=r"openai>=3.*pytest-agentchaos\[llm\]"):
        importlib.import_module("pytest_agentchaos.integrations.openai")
    # ImportError too, so `except ImportError` in user code keeps working.
    assert issubclass(MissingExtraError, ImportError)
