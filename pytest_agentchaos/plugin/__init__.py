"""pytest hooks only: options, markers, the run around each test, the report.

Free until asked: without ``--chaos`` and without a chaos marker among the collected tests, a
session loads neither pydantic nor the fault models, the engine, the store or the report.
Markers are registered from :mod:`pytest_agentchaos.model.kinds`, a plain table; everything
heavier loads inside the hook or fixture that needs it. Validation: :mod:`.validation`;
fixtures: :mod:`.fixtures`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_agentchaos.config.redaction import redact_args
from pytest_agentchaos.config.settings import SessionSettings
from pytest_agentchaos.errors import ChaosConfigError, StoreError
from pytest_agentchaos.model.kinds import FAULT_KINDS
from pytest_agentchaos.plugin.items import gets_chaos_run, is_chaos_test, prepare_items
from pytest_agentchaos.plugin.keys import REPETITION_FIXTURE, RUN_KEY, SESSION_KEY
from pytest_agentchaos.plugin.options import add_options, check_output_paths, read_session_settings
from pytest_agentchaos.plugin.validation import (
    FAULTS_KEY,
    NO_FAULTS,
    register_xdist_usage_errors,
    strategy_registry,
    usage_error,
    use_registry,
)

if TYPE_CHECKING:
    from pytest_agentchaos.session import ChaosSession

# Loaded with this plugin: pytest registers them whenever it registers this module.
pytest_plugins = [
    "pytest_agentchaos.plugin.validation",
    "pytest_agentchaos.plugin.fixtures",
    "pytest_agentchaos.plugin.bus",
    "pytest_agentchaos.plugin.openai",
    "pytest_agentchaos.plugin.langgraph",
]

OUTCOME_KEY = pytest.StashKey[str]()
#: Whether pytest reported this test's teardown: a run without it was interrupted.
_TORN_DOWN_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    _register_markers(config)
    register_xdist_usage_errors(config)
    try:
        settings = read_session_settings(config)
        if settings.enabled and not hasattr(config, "workerinput"):
            check_output_paths(config, settings)
    except ChaosConfigError as error:
        raise usage_error(error) from None
    if not settings.enabled:
        if settings.strategies:  # a typo in --chaos-strategy is an error without --chaos too
            _validate_strategies(lambda: strategy_registry(config), settings.strategies)
        return
    session = _start_session(config, settings)
    config.stash[SESSION_KEY] = session
    # Closed after every plugin's pytest_unconfigure: the store's commit thread copies the
    # session's commits into the database file meanwhile (see EventStore.end_session).
    config.add_cleanup(session.close)
    use_registry(config, session.registry)
    config.pluginmanager.register(_StrategyCollector(session), "agentchaos-strategies")
    _validate_strategies(lambda: session.registry, settings.strategies or ())


def _register_markers(config: pytest.Config) -> None:
    # The arguments of each kind come from its pydantic model: built only for `--markers`.
    arguments: dict[str, str] = {}
    if getattr(config.option, "markers", False):
        from pytest_agentchaos.model.faults import FAULT_MODELS

        arguments = {
            kind: ", ".join(name for name in model.model_fields if name != "kind")
            for kind, model in FAULT_MODELS.items()
        }
    for kind in FAULT_KINDS:
        config.addinivalue_line(
            "markers",
            f"chaos_{kind}({arguments.get(kind, 'target, ...')}): "
            f"inject a {kind} fault under --chaos",
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


def _validate_strategies(registry: Any, names: tuple[str, ...]) -> None:
    try:
        registry().validate(names)
    except ChaosConfigError as error:
        raise usage_error(error) from None


def _start_session(config: pytest.Config, settings: SessionSettings) -> ChaosSession:
    from pytest_agentchaos.session import ChaosSession, worker_name

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        # The controller's store, wherever this worker was started.
        settings = dataclasses.replace(settings, db=Path(workerinput["agentchaos_db"]))
        return ChaosSession(
            settings,
            session_id=workerinput["agentchaos_session"],
            seed=workerinput["agentchaos_seed"],
            worker=worker_name(),
        )
    from pytest_agentchaos.model.schedule import draw_session_seed

    seed = settings.seed if settings.seed is not None else draw_session_seed()
    session = ChaosSession(settings, session_id=ChaosSession.new_id(), seed=seed, worker="main")
    try:
        # The schema must exist before xdist workers start writing.
        session.store.migrate()
    except StoreError as error:
        raise pytest.UsageError(str(error)) from None
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(session), "agentchaos-xdist")
    return session


class _XdistHooks:
    """Hands the session id and seed to every worker so all share one schedule and store."""

    def __init__(self, session: ChaosSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["agentchaos_session"] = self.session.session_id
        node.workerinput["agentchaos_seed"] = self.session.seed
        node.workerinput["agentchaos_db"] = str(self.session.settings.db)


class _StrategyCollector:
    """Registers conftest.py files and plugins that implement our hooks with ``@hookimpl``.

    ``pytest_plugin_registered`` is historic: it also sees the plugins registered before it.
    """

    def __init__(self, session: ChaosSession) -> None:
        self.session = session

    def pytest_plugin_registered(self, plugin: object) -> None:
        from pytest_agentchaos.strategies.registry import has_hookimpls

        if has_hookimpls(plugin):
            self.session.registry.register(plugin)


def _version() -> str:
    # The package's own constant, which a test keeps equal to the installed metadata: asking
    # importlib.metadata scans the installed distributions, ~4 ms of every session's start.
    from pytest_agentchaos import __version__

    return __version__


def _worker_count(config: pytest.Config) -> int:
    numprocesses = getattr(config.option, "numprocesses", None)
    return int(numprocesses) if isinstance(numprocesses, int) else 0


# ------------------------------------------------------------------------- collection
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    session = metafunc.config.stash.get(SESSION_KEY, None)
    if session is None or session.settings.runs < 2:
        return
    if not is_chaos_test(metafunc.definition.iter_markers(), metafunc.fixturenames):
        return
    metafunc.fixturenames.append(REPETITION_FIXTURE)
    runs = session.settings.runs
    metafunc.parametrize(
        REPETITION_FIXTURE,
        range(runs),
        indirect=True,
        ids=[f"chaos{i + 1}of{runs}" for i in range(runs)],
    )


def pytest_collection_finish(session: pytest.Session) -> None:
    # After every plugin's collection_modifyitems: the markers and fixtures are final.
    prepare_items(session.items, SESSION_KEY in session.config.stash)


# --------------------------------------------------------------------------- running
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    run = item.stash.get(RUN_KEY, None)
    if run is None:
        return report
    previous = item.stash.get(OUTCOME_KEY, "passed")
    if report.failed:
        outcome = "failed" if report.when == "call" else "error"
        item.stash[OUTCOME_KEY] = previous if previous in ("failed", "error") else outcome
        if report.when == "call":
            # A failing test caught what the system let through: it detects at the end of
            # its call phase, not after teardown and reporting (docs/outcomes.md).
            run.detect("test failed")
    elif report.skipped and previous == "passed":
        item.stash[OUTCOME_KEY] = "skipped"
    if report.when == "teardown":
        item.stash[_TORN_DOWN_KEY] = True
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    session = item.config.stash.get(SESSION_KEY, None)
    if session is None or not gets_chaos_run(item):
        return (yield)
    faults, marker_settings = item.stash.get(FAULTS_KEY, NO_FAULTS)
    callspec = getattr(item, "callspec", None)
    repetition = int(callspec.params.get(REPETITION_FIXTURE, 0)) if callspec else 0
    started = time.time()
    run = session.start_run(item.nodeid, repetition, faults, marker_settings, {})
    item.stash[RUN_KEY] = run
    # What pytest reported, once it reported the teardown; before that (Ctrl-C, a worker whose
    # controller died) the test never finished: `interrupted`, never `passed`.
    outcome = "interrupted"
    try:
        result = yield
        if item.stash.get(_TORN_DOWN_KEY, False):
            outcome = item.stash.get(OUTCOME_KEY, "passed")
        return result
    finally:
        try:
            session.finish_run(run, outcome, started)
        finally:
            # Items live for the whole session: a finished run must not (its events, firings
            # and results would pile up test after test).
            del item.stash[RUN_KEY]


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
        redact_args(session.config.invocation_params.args),
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
    ran_nothing = config.option.collectonly or session.exitstatus == pytest.ExitCode.USAGE_ERROR
    try:
        if not ran_nothing:
            from pytest_agentchaos.report.build import write_reports

            report = chaos.build_report()
            write_reports(report, chaos.settings.reports)
            if chaos.check_gates(report) and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    finally:
        # Closed whatever happens to the report: an open session row means a killed session.
        chaos.store.end_session(chaos.session_id, int(session.exitstatus))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    chaos = config.stash.get(SESSION_KEY, None)
    if chaos is None or chaos.report is None:
        return
    from pytest_agentchaos.report.build import render_text

    terminalreporter.section(f"agentchaos resilience report (seed {chaos.seed})")
    for line in render_text(chaos.report).splitlines():
        terminalreporter.write_line(line)
    for path in chaos.settings.reports:
        terminalreporter.write_line(f"report written: {path}")
    for failure in chaos.gate_failures:
        terminalreporter.write_line(f"chaos gate missed: {failure}", red=True, bold=True)
