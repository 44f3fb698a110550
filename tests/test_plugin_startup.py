"""Free until asked: what a pytest session loads with the plugin installed.

Without ``--chaos`` and without a chaos marker, neither pydantic nor the fault models, the
engine, the store or the report; with a chaos marker, the fault models (to validate it at
collection) but still no store or report; with ``--chaos``, all of it.
"""

from __future__ import annotations

import json

import pytest
from helpers import run_subprocess

# Writes the modules loaded by the end of the session, as the session itself sees them.
RECORD_MODULES = """
import json, sys

def pytest_sessionfinish(session):
    with open("modules.json", "w") as out:
        json.dump(sorted(sys.modules), out)
"""

HEAVY = (
    "pydantic",
    "pytest_agentchaos.model.faults",
    "pytest_agentchaos.engine",
    "pytest_agentchaos.store",
    "pytest_agentchaos.report",
    "pytest_agentchaos.session",
)
STORE_AND_REPORT = ("pytest_agentchaos.store", "pytest_agentchaos.report")


def loaded(pytester: pytest.Pytester, test_source: str, *args: str) -> set[str]:
    pytester.makeconftest(RECORD_MODULES)
    pytester.makepyfile(test_source)
    result = run_subprocess(pytester, "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    modules: list[str] = json.loads((pytester.path / "modules.json").read_text())
    return set(modules)


def heavy_among(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


PLAIN = """
def test_a():
    assert 1 + 1 == 2
"""

MARKED = """
import pytest

@pytest.mark.chaos_crash(target="a", at_call=1)
@pytest.mark.chaos_bus(delivery="at_least_once")
def test_a():
    assert 1 + 1 == 2
"""


@pytest.mark.slow
def test_plain_session_loads_nothing_heavy(pytester: pytest.Pytester) -> None:
    modules = loaded(pytester, PLAIN)
    assert "pytest_agentchaos.plugin" in modules  # the plugin was there
    assert heavy_among(modules, HEAVY) == []


@pytest.mark.slow
def test_a_chaos_marker_loads_the_models_to_validate_it_but_no_store(
    pytester: pytest.Pytester,
) -> None:
    modules = loaded(pytester, MARKED)
    assert {"pydantic", "pytest_agentchaos.model.faults"} <= modules
    assert heavy_among(modules, STORE_AND_REPORT) == []


@pytest.mark.slow
def test_chaos_loads_the_engine_store_and_report(pytester: pytest.Pytester) -> None:
    # The check above can fail: here the same probe sees every heavy part.
    modules = loaded(pytester, MARKED, "--chaos", "--chaos-db=s.db")
    assert {"pytest_agentchaos.store.sqlite", "pytest_agentchaos.report.build"} <= modules
    assert "pydantic" in modules
