"""pytest fixtures and markers for OpenAI-SDK chaos and LLM cassettes.

pytest hooks only; the SDK, httpx2 and vcrpy are imported by the fixtures that need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.integrations.cassettes import RECORD_MODES, check_record_mode
from pytest_agentchaos.plugin.validation import (
    CASSETTE_KEY,
    CASSETTE_MARKER,
    cassette_settings,
    usage_error,
)


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
        raise usage_error(error) from None


def _configured_record_mode(config: pytest.Config) -> tuple[str | None, str | None]:
    """The record mode from the command line, and from the ini file, each checked."""
    cli = config.getoption("chaos_record_mode", None)
    ini = config.getini("chaos_record_mode") or None
    return (
        check_record_mode(cli, "--chaos-record-mode") if cli is not None else None,
        check_record_mode(ini, "ini chaos_record_mode") if ini is not None else None,
    )


def _default_cassette(request: pytest.FixtureRequest) -> Path:
    name = request.node.name
    if request.cls is not None:
        name = f"{request.cls.__name__}.{name}"
    name = re.sub(r"[^\w.\-\[\]]", "_", name)
    return request.path.parent / "cassettes" / request.path.stem / f"{name}.yaml"


def _cassette_settings(request: pytest.FixtureRequest) -> tuple[Path, str]:
    """Where this test's cassette lives and its record mode: command line > marker > ini."""
    path, mode = request.node.stash.get(CASSETTE_KEY, (None, None))
    marker = request.node.get_closest_marker(CASSETTE_MARKER)
    if CASSETTE_KEY not in request.node.stash and marker is not None:
        path, mode = cassette_settings(marker)  # an item not collected the usual way
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
    from pytest_agentchaos.integrations.cassettes import use_cassette

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
    from pytest_agentchaos.integrations.openai.client import chaos_client

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
    if close is None:
        return
    # AsyncOpenAI: close() is a coroutine, and its connections belong to the loop that used
    # them, which has usually ended by now.
    import asyncio
    import warnings

    try:
        asyncio.run(close)
    except RuntimeError:
        warnings.warn(
            "agentchaos_openai: an AsyncOpenAI client was still open after the event loop that "
            "used it had closed; close it in that loop (`async with client:` or "
            "`await client.close()`)",
            ResourceWarning,
            stacklevel=1,
        )
