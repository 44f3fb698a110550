"""pytest fixtures and markers for OpenAI-SDK chaos and LLM cassettes.

pytest hooks only; the SDK, httpx2 and vcrpy are imported by the fixtures that need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from .errors import ChaosConfigError
from .integrations.cassettes import RECORD_MODES, check_record_mode

CASSETTE_MARKER = "chaos_cassette"
_MARKER_ARGUMENTS = ("path", "record_mode")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentchaos", "chaos testing of LLM agents (pytest-agentchaos)")
    text = (
        "record mode of LLM cassettes (chaos_cassette, agentchaos_cassette): "
        f"{', '.join(RECORD_MODES)}; overrides markers (default: none, replay only)"
    )
    group.addoption(
        "--chaos-record-mode", dest="chaos_record_mode", default=None, metavar="MODE", help=text
    )
    parser.addini("chaos_record_mode", text, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{CASSETTE_MARKER}(path=None, record_mode='none'): record and replay this test's LLM "
        "traffic with a vcrpy cassette (default: cassettes/<module>/<test>.yaml beside the test)",
    )
    try:
        _configured_record_mode(config)
    except ChaosConfigError as error:
        raise pytest.UsageError(str(error)) from None


def _configured_record_mode(config: pytest.Config) -> tuple[str | None, str | None]:
    """The record mode from the command line, and from the ini file, each checked."""
    cli = config.getoption("chaos_record_mode", None)
    ini = config.getini("chaos_record_mode") or None
    return (
        check_record_mode(cli, "--chaos-record-mode") if cli is not None else None,
        check_record_mode(ini, "ini chaos_record_mode") if ini is not None else None,
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Generator[None, None, None]:
    problems = []
    for item in items:
        marker = item.get_closest_marker(CASSETTE_MARKER)
        if marker is not None:
            try:
                _marker_settings(marker)
            except ChaosConfigError as error:
                problems.append(f"{item.nodeid}: {error}")
    if problems:
        raise pytest.UsageError("bad chaos_cassette marker arguments:\n  " + "\n  ".join(problems))
    hidden = _hide_cassette_markers(items) if _core_rejects_cassettes(items) else []
    try:
        return (yield)
    finally:
        for node, markers in hidden:
            node.own_markers[:] = markers


def _core_rejects_cassettes(items: list[pytest.Item]) -> bool:
    """Whether plugin.py reads ``chaos_cassette`` as an unknown fault kind.

    Until it skips the marker, the marker is hidden from the other collection hooks (pytest's
    ``-m`` selection included) and put back right after them.
    """
    from . import plugin as core

    item = next((i for i in items if i.get_closest_marker(CASSETTE_MARKER)), None)
    if item is None:
        return False
    try:
        core._faults_of(item)
    except ChaosConfigError as error:
        return f"unknown chaos marker {CASSETTE_MARKER}" in str(error)
    except Exception:  # plugin.py reports its own problems
        return False
    return False


def _hide_cassette_markers(items: list[pytest.Item]) -> list[tuple[pytest.Item | Any, list[Any]]]:
    hidden: dict[int, tuple[Any, list[Any]]] = {}
    for item in items:
        for node in item.listchain():
            if id(node) in hidden or not any(m.name == CASSETTE_MARKER for m in node.own_markers):
                continue
            hidden[id(node)] = (node, list(node.own_markers))
            node.own_markers[:] = [m for m in node.own_markers if m.name != CASSETTE_MARKER]
    return list(hidden.values())


def _marker_settings(marker: pytest.Mark) -> tuple[str | None, str | None]:
    """``(path, record_mode)`` of a ``chaos_cassette`` marker, checked."""
    if len(marker.args) > 1:
        raise ChaosConfigError(
            f"{CASSETTE_MARKER} takes at most one positional argument (the path), "
            f"got {len(marker.args)}"
        )
    for name in marker.kwargs:
        if name not in _MARKER_ARGUMENTS:
            raise ChaosConfigError(
                f"{CASSETTE_MARKER}: unknown argument {name!r}; "
                f"allowed arguments: {', '.join(_MARKER_ARGUMENTS)}"
            )
    path = marker.kwargs.get("path", marker.args[0] if marker.args else None)
    if path is not None and not isinstance(path, str | Path):
        raise ChaosConfigError(f"{CASSETTE_MARKER}: argument path={path!r}: must be a path")
    mode = marker.kwargs.get("record_mode")
    if mode is not None:
        check_record_mode(mode, f"{CASSETTE_MARKER}: argument record_mode")
    return (str(path) if path is not None else None), mode


def _default_cassette(request: pytest.FixtureRequest) -> Path:
    name = request.node.name
    if request.cls is not None:
        name = f"{request.cls.__name__}.{name}"
    name = re.sub(r"[^\w.\-\[\]]", "_", name)
    return request.path.parent / "cassettes" / request.path.stem / f"{name}.yaml"


def _cassette_settings(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """Where this test's cassette lives and its record mode: command line > marker > ini."""
    path, mode = None, None
    marker = request.node.get_closest_marker(CASSETTE_MARKER)
    if marker is not None:
        path, mode = _marker_settings(marker)
    cli, ini = _configured_record_mode(request.config)
    resolved = Path(path) if path is not None else _default_cassette(request)
    if not resolved.is_absolute():
        resolved = request.path.parent / resolved
    return resolved, cli or mode or ini or "none"


@pytest.fixture
def agentchaos_cassette(request: pytest.FixtureRequest) -> Iterator[Any]:
    """This test's LLM cassette (a vcrpy ``Cassette``), in use for the whole test.

    Path and record mode come from a ``chaos_cassette`` marker, else the defaults:
    ``cassettes/<module>/<test>.yaml`` beside the test file, record mode ``none`` (replay only;
    ``--chaos-record-mode=once`` records a missing cassette). Chaos faults apply on top of the
    replayed answers.
    """
    from .integrations.cassettes import use_cassette

    path, mode = _cassette_settings(request)
    with use_cassette(path, mode) as cassette:
        yield cassette


@pytest.fixture(autouse=True)
def _agentchaos_cassette_marker(request: pytest.FixtureRequest) -> None:
    """Put the cassette of a ``chaos_cassette`` test in use before its other fixtures run."""
    if request.node.get_closest_marker(CASSETTE_MARKER) is not None:
        request.getfixturevalue("agentchaos_cassette")


@pytest.fixture
def agentchaos_openai() -> Iterator[Callable[..., Any]]:
    """A factory of chaos-enabled OpenAI clients, closed at teardown:
    ``agentchaos_openai(base_url, name="openai", async_=False, **client_kwargs)``.

    Faults whose ``target`` matches ``name`` fire in its HTTP transport, under the SDK.
    """
    from .integrations.openai import chaos_client

    clients: list[Any] = []

    def make(base_url: str | None = None, name: str = "openai", **kwargs: Any) -> Any:
        client = chaos_client(base_url, name=name, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        _close(client)


def _close(client: Any) -> None:
    if client.is_closed():
        return
    close = client.close()
    if close is not None:  # AsyncOpenAI: its close() is a coroutine
        import asyncio

        asyncio.run(close)
