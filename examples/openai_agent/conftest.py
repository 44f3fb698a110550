"""Fixtures: the local model server, and chaos-enabled OpenAI clients that talk to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from local_model import respond

from pytest_agentchaos.testing.openai_server import LocalOpenAIServer

#: The name LLM faults select the agent's client by: ``chaos_<kind>(target="llm", ...)``.
CLIENT_NAME = "llm"


@pytest.fixture
def server() -> Iterator[LocalOpenAIServer]:
    """A deterministic OpenAI-compatible server on 127.0.0.1, on a free port, for one test."""
    with LocalOpenAIServer(respond) as local:
        yield local


@pytest.fixture
def make_client(
    agentchaos_openai: Callable[..., Any], server: LocalOpenAIServer
) -> Callable[..., openai.OpenAI]:
    """``make_client(**client_kwargs)``: an ``openai.OpenAI`` for the local server whose
    transport injects the LLM faults aimed at ``"llm"``; closed at teardown.

    The defaults are the agent's production settings: the SDK retries twice, 5 s timeout.
    """

    def make(**client_kwargs: Any) -> openai.OpenAI:
        settings = {"max_retries": 2, "timeout": 5.0, **client_kwargs}
        client: openai.OpenAI = agentchaos_openai(server.base_url, name=CLIENT_NAME, **settings)
        return client

    return make


@pytest.fixture
def client(make_client: Callable[..., openai.OpenAI]) -> openai.OpenAI:
    """The agent's client with its production settings."""
    return make_client()
