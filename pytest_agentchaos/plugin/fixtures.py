"""The chaos fixtures: ``agentchaos``, ``agentchaos_config``, ``agentchaos_store``.

The engine, the store and the report load inside them, when a test asks for chaos.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.plugin.keys import CONFIG_FIXTURE, RUN_KEY, SESSION_KEY
from pytest_agentchaos.plugin.options import read_session_settings
from pytest_agentchaos.plugin.validation import FAULTS_KEY, NO_FAULTS

if TYPE_CHECKING:
    from pytest_agentchaos.engine.controller import ChaosController
    from pytest_agentchaos.store.sqlite import EventStore


@pytest.fixture
def _agentchaos_repetition(request: pytest.FixtureRequest) -> int:
    return int(getattr(request, "param", 0))


@pytest.fixture
def agentchaos_config() -> dict[str, Any]:
    """Override to set per-test chaos settings (strategy, deadline, retry_attempts,
    retry_backoff); command line and ``chaos_settings`` markers take precedence."""
    return {}


@pytest.fixture(autouse=True)
def _agentchaos_apply_config(request: pytest.FixtureRequest) -> None:
    """Apply ``agentchaos_config`` to a chaos test's run, whether or not it asks for it.

    Autouse, so the settings are in place before the test's own fixtures call any agent;
    taken out at collection from the tests that do not need it (:mod:`.items`).
    """
    run = request.node.stash.get(RUN_KEY, None)
    session = request.config.stash.get(SESSION_KEY, None)
    if run is None or session is None:
        return
    from pytest_agentchaos.config.settings import check_test_settings, resolve_run_settings

    values = request.getfixturevalue(CONFIG_FIXTURE)
    try:
        fixture_settings = check_test_settings(values, "agentchaos_config")
        if fixture_settings:
            _, marker_settings = request.node.stash.get(FAULTS_KEY, NO_FAULTS)
            run.settings = resolve_run_settings(session.settings, marker_settings, fixture_settings)
            session.registry.validate(run.settings.strategies)
    except ChaosConfigError as error:
        pytest.fail(f"{request.node.nodeid}: {error}", pytrace=False)


@pytest.fixture
def agentchaos(request: pytest.FixtureRequest) -> Iterator[ChaosController]:
    """This test's chaos controller: inject faults, query events and outcomes, assert recovery."""
    from pytest_agentchaos.engine.controller import ChaosController

    session = request.config.stash.get(SESSION_KEY, None)
    run = request.node.stash.get(RUN_KEY, None)
    if session is None:
        controller = ChaosController(run)
    else:
        from pytest_agentchaos.report.build import reproduce_command

        # Built when a failure message asks for it, not for every test.
        reproduce = functools.partial(
            reproduce_command,
            request.node.nodeid,
            session.seed,
            session.settings.extra_reproduce_args,
        )
        controller = ChaosController(run, reproduce=reproduce, session_seed=session.seed)
    try:
        yield controller
    finally:
        controller.close()


@pytest.fixture(scope="session")
def agentchaos_store(pytestconfig: pytest.Config) -> Iterator[EventStore]:
    """The session's event store (the ``--chaos-db`` file)."""
    session = pytestconfig.stash.get(SESSION_KEY, None)
    if session is not None:
        yield session.store
        return
    from pytest_agentchaos.store.sqlite import EventStore

    settings = read_session_settings(pytestconfig)
    with EventStore.open(settings.db) as store:
        yield store
