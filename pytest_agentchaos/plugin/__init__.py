"""pytest hooks only: options, ini keys, markers, fixtures, the run around each test, report.

Everything else lives in engine modules that never import pytest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.config.markers import chaos_from_marks
from pytest_agentchaos.config.settings import (
    SessionSettings,
    check_test_settings,
    resolve_run_settings,
)
from pytest_agentchaos.engine.controller import ChaosController
from pytest_agentchaos.errors import ChaosConfigError, StoreError
from pytest_agentchaos.model.faults import FAULT_MODELS, FaultSpec
from pytest_agentchaos.model.schedule import draw_session_seed
from pytest_agentchaos.plugin.options import add_options, read_session_settings
from pytest_agentchaos.report.build import render_text, write_reports
from pytest_agentchaos.session import ChaosSession, worker_name
from pytest_agentchaos.store.sqlite import EventStore
from pytest_agentchaos.strategies.registry import has_hookimpls

# Loaded with this plugin: pytest registers them whenever it registers this module.
pytest_plugins = [
    "pytest_agentchaos.plugin.bus",
    "pytest_agentchaos.plugin.openai",
    "pytest_agentchaos.plugin.langgraph",
]

SESSION_KEY = pytest.StashKey[ChaosSession]()
FAULTS_KEY = pytest.StashKey[tuple[tuple[FaultSpec, ...], dict[str, Any]]]()
OUTCOME_KEY = pytest.StashKey[str]()
REPETITION_FIXTURE = "_agentchaos_repetition"
BAD_MARKERS = "bad chaos marker arguments"
#: chaos_* markers that configure fixtures of the sibling plugins, not faults.
SIBLING_MARKERS = frozenset({"chaos_bus", "chaos_cassette"})


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for kind, model in FAULT_MODELS.items():
        arguments = ", ".join(name for name in model.model_fields if name != "kind")
        config.addinivalue_line(
            "markers", f"chaos_{kind}({arguments}): inject a {kind} fault under --chaos"
        )
    config.addinivalue_line(
        "markers",
        "chaos_scenario(name_or_path): inject the faults of a YAML scenario under --chaos",
    )
    config.addinivalue_line(
        "markers",
        "chaos_settings(strategy, deadline, retry_attempts, retry_backoff): "
        "per-test chaos settings",
    )
    try:
        settings = read_session_settings(config)
    except ChaosConfigError as error:
        raise pytest.UsageError(str(error)) from None
    if not settings.enabled:
        _check_strategy_names(config, settings)
        return
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        seed = settings.seed if settings.seed is not None else draw_session_seed()
        session = ChaosSession(settings, session_id=ChaosSession.new_id(), seed=seed, worker="main")
        try:
            # The schema must exist before xdist workers start writing.
            session.store.migrate()
        except StoreError as error:
            raise pytest.UsageError(str(error)) from None
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_XdistHooks(session), "agentchaos-xdist")
    else:
        # The controller's store, wherever this worker was started.
        settings = dataclasses.replace(settings, db=Path(workerinput["agentchaos_db"]))
        session = ChaosSession(
            settings,
            session_id=workerinput["agentchaos_session"],
            seed=workerinput["agentchaos_seed"],
            worker=worker_name(),
        )
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(_StrategyCollector(session), "agentchaos-strategies")
    try:
        session.registry.validate(settings.strategies or ())
    except ChaosConfigError as error:
        raise pytest.UsageError(str(error)) from None


def _check_strategy_names(config: pytest.Config, settings: SessionSettings) -> None:
    """A typo in --chaos-strategy is an error with or without --chaos."""
    if not settings.strategies:
        return
    from pytest_agentchaos.strategies.registry import StrategyRegistry

    registry = StrategyRegistry()
    for plugin in config.pluginmanager.get_plugins():
        if has_hookimpls(plugin):
            registry.register(plugin)
    try:
        registry.validate(settings.strategies)
    except ChaosConfigError as error:
        raise pytest.UsageError(str(error)) from None


class _XdistHooks:
    """Hands the session id and seed to every worker so all share one schedule and store."""

    def __init__(self, session: ChaosSession) -> None:
        self.session = session
        self.bad_markers = False

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["agentchaos_session"] = self.session.session_id
        node.workerinput["agentchaos_seed"] = self.session.seed
        node.workerinput["agentchaos_db"] = str(self.session.settings.db)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A worker's bad marker arrives as a failed collection; the exit code should still
        # say "usage error", as it does without xdist.
        if report.failed and BAD_MARKERS in str(report.longrepr):
            self.bad_markers = True


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-agentchaos")
    except PackageNotFoundError:
        return "unknown"


def _worker_count(config: pytest.Config) -> int:
    numprocesses = getattr(config.option, "numprocesses", None)
    return int(numprocesses) if isinstance(numprocesses, int) else 0


class _StrategyCollector:
    """Registers conftest.py files and plugins that implement our hooks with ``@hookimpl``.

    ``pytest_plugin_registered`` is historic: it also sees the plugins registered before it.
    """

    def __init__(self, session: ChaosSession) -> None:
        self.session = session

    def pytest_plugin_registered(self, plugin: object) -> None:
        if has_hookimpls(plugin):
            self.session.registry.register(plugin)


# ------------------------------------------------------------------------- collection
#: Fixtures whose tests get a chaos run (recorded) even without a chaos marker.
CHAOS_FIXTURES = frozenset({"agentchaos", "agentchaos_bus", "agentchaos_openai"})


def _is_chaos_test(item_markers: Iterator[pytest.Mark], fixturenames: list[str]) -> bool:
    return not CHAOS_FIXTURES.isdisjoint(fixturenames) or any(
        m.name.startswith("chaos_") for m in item_markers
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION_KEY, None)
    if session is None or session.settings.runs < 2:
        return
    if not _is_chaos_test(metafunc.definition.iter_markers(), list(metafunc.fixturenames)):
        return
    metafunc.fixturenames.append(REPETITION_FIXTURE)
    runs = session.settings.runs
    metafunc.parametrize(
        REPETITION_FIXTURE,
        range(runs),
        indirect=True,
        ids=[f"chaos{i + 1}of{runs}" for i in range(runs)],
    )


@pytest.fixture
def _agentchaos_repetition(request: pytest.FixtureRequest) -> int:
    return int(getattr(request, "param", 0))


def _faults_of(item: pytest.Item) -> tuple[tuple[FaultSpec, ...], dict[str, Any]]:
    marks = [m for m in item.iter_markers() if m.name not in SIBLING_MARKERS]
    return chaos_from_marks(marks, [item.path.parent, item.config.rootpath])


def _check_items(items: list[pytest.Item], session: ChaosSession | None) -> list[str]:
    """Parse every item's chaos markers once; the problems, each naming its test."""
    problems = []
    for item in items:
        try:
            if FAULTS_KEY not in item.stash:
                item.stash[FAULTS_KEY] = _faults_of(item)
            if session is not None:
                strategies = item.stash[FAULTS_KEY][1].get("strategy", ())
                session.registry.validate(tuple(strategies))
        except ChaosConfigError as error:
            problems.append(f"{item.nodeid}: {error}")
    return problems


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = _check_items(items, config.stash.get(SESSION_KEY, None))
    if problems:
        raise pytest.UsageError(f"{BAD_MARKERS}:\n  " + "\n  ".join(problems))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    # An xdist worker cannot stop the session with a UsageError (the controller reports an
    # INTERNALERROR); a failed collection report stops it cleanly, naming the bad argument.
    if not hasattr(collector.config, "workerinput") or report.failed:
        return report
    items = [node for node in report.result if isinstance(node, pytest.Item)]
    problems = _check_items(items, collector.config.stash.get(SESSION_KEY, None))
    if problems:
        report.outcome = "failed"
        report.longrepr = f"{BAD_MARKERS}:\n  " + "\n  ".join(problems)
        report.result = []
    return report


# --------------------------------------------------------------------------- running
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    previous = item.stash.get(OUTCOME_KEY, "passed")
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
        item.stash[OUTCOME_KEY] = previous if previous in ("failed", "error") else outcome
    elif report.skipped and previous == "passed":
        item.stash[OUTCOME_KEY] = "skipped"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    session = item.config.stash.get(SESSION_KEY, None)
    faults, marker_settings = item.stash.get(FAULTS_KEY, ((), {}))
    fixturenames = list(getattr(item, "fixturenames", ()))
    if session is None or not _is_chaos_test(item.iter_markers(), fixturenames):
        return (yield)
    callspec = getattr(item, "callspec", None)
    repetition = int(callspec.params.get(REPETITION_FIXTURE, 0)) if callspec else 0
    started = time.time()
    run = session.start_run(item.nodeid, repetition, faults, marker_settings, {})
    item.stash[_RUN_KEY] = run
    try:
        return (yield)
    finally:
        session.finish_run(run, item.stash.get(OUTCOME_KEY, "passed"), started)


_RUN_KEY = pytest.StashKey[Any]()


# -------------------------------------------------------------------------- fixtures
@pytest.fixture
def agentchaos_config() -> dict[str, Any]:
    """Override to set per-test chaos settings (strategy, deadline, retry_attempts,
    retry_backoff); command line and ``chaos_settings`` markers take precedence."""
    return {}


@pytest.fixture(autouse=True)
def _agentchaos_apply_config(request: pytest.FixtureRequest) -> None:
    """Apply ``agentchaos_config`` to a chaos test's run, whether or not it asks for it.

    Autouse, so the settings are in place before the test's own fixtures call any agent.
    """
    run = request.node.stash.get(_RUN_KEY, None)
    session = request.config.stash.get(SESSION_KEY, None)
    if run is None or session is None:
        return
    values = request.getfixturevalue("agentchaos_config")
    try:
        fixture_settings = check_test_settings(values, "agentchaos_config")
        if fixture_settings:
            _, marker_settings = request.node.stash.get(FAULTS_KEY, ((), {}))
            run.settings = resolve_run_settings(session.settings, marker_settings, fixture_settings)
            session.registry.validate(run.settings.strategies)
    except ChaosConfigError as error:
        pytest.fail(f"{request.node.nodeid}: {error}", pytrace=False)


@pytest.fixture
def agentchaos(request: pytest.FixtureRequest) -> Iterator[ChaosController]:
    """This test's chaos controller: inject faults, query events and outcomes, assert recovery."""
    session = request.config.stash.get(SESSION_KEY, None)
    run = request.node.stash.get(_RUN_KEY, None)
    reproduce = ""
    if session is not None:
        from pytest_agentchaos.report.build import reproduce_command

        reproduce = reproduce_command(
            request.node.nodeid, session.seed, session.settings.extra_reproduce_args
        )
    controller = ChaosController(
        run, reproduce=reproduce, session_seed=session.seed if session else None
    )
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
    settings = read_session_settings(pytestconfig)
    with EventStore.open(settings.db) as store:
        yield store


# -------------------------------------------------------------------------- reporting
@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    # Here, not in pytest_configure: --help and --markers configure but run no session.
    chaos = session.config.stash.get(SESSION_KEY, None)
    if chaos is None or hasattr(session.config, "workerinput"):
        return
    chaos.store.start_session(
        chaos.session_id,
        chaos.seed,
        session.config.invocation_params.args,
        _version(),
        _worker_count(session.config),
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    chaos = config.stash.get(SESSION_KEY, None)
    if chaos is None or hasattr(config, "workerinput"):
        if chaos is not None:
            chaos.close()
        return
    xdist_hooks = config.pluginmanager.get_plugin("agentchaos-xdist")
    if xdist_hooks is not None and xdist_hooks.bad_markers:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    ran_nothing = config.option.collectonly or session.exitstatus == pytest.ExitCode.USAGE_ERROR
    if not ran_nothing:
        report = chaos.build_report()
        write_reports(report, chaos.settings.reports)
        if chaos.check_gates(report) and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    chaos.store.end_session(chaos.session_id, int(session.exitstatus))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    chaos = config.stash.get(SESSION_KEY, None)
    if chaos is None or chaos.report is None:
        return
    terminalreporter.section(f"agentchaos resilience report (seed {chaos.seed})")
    for line in render_text(chaos.report).splitlines():
        terminalreporter.write_line(line)
    for path in chaos.settings.reports:
        terminalreporter.write_line(f"report written: {path}")
    for failure in chaos.gate_failures:
        terminalreporter.write_line(f"chaos gate missed: {failure}", red=True, bold=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    chaos = config.stash.get(SESSION_KEY, None)
    if chaos is not None:
        chaos.close()
