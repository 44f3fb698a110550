"""The offline OpenAI-compatible server, driven through the real openai SDK."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

openai = pytest.importorskip("openai")

from pytest_agentchaos.testing.openai_server import (  # noqa: E402
    ChatReply,
    LocalOpenAIServer,
    default_responder,
)

MODEL = "gpt-test"
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Look up the weather.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric"],
        },
    },
}


@pytest.fixture
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as srv:
        yield srv


@pytest.fixture
def client(server: LocalOpenAIServer) -> Iterator[Any]:
    with openai.OpenAI(base_url=server.base_url, api_key="test-key", max_retries=0) as c:
        yield c


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_plain_completion_echoes_last_user_message(client: Any) -> None:
    resp = client.chat.completions.create(model=MODEL, messages=_user("hello there world"))
    assert resp.id == "chatcmpl-1"
    assert resp.object == "chat.completion"
    assert resp.created == 0
    assert resp.model == MODEL
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there world"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    assert resp.usage.prompt_tokens == 5
    assert resp.usage.completion_tokens == 4
    assert resp.usage.total_tokens == 9
    again = client.chat.completions.create(model=MODEL, messages=_user("hello there world"))
    assert again.id == "chatcmpl-2"
    assert again.choices[0].message.content == choice.message.content


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {}}},
        },
    ],
)
def test_json_response_format(client: Any, response_format: dict[str, Any]) -> None:
    resp = client.chat.completions.create(
        model=MODEL, messages=_user("what is up"), response_format=response_format
    )
    assert json.loads(resp.choices[0].message.content) == {"answer": "what is up", "length": 10}


def test_tool_call_round_trip(client: Any) -> None:
    messages: list[dict[str, Any]] = _user("Paris")
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.type == "function"
    assert call.id == "call_1_0"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 1, "metric": True}

    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content == "done: sunny, 21C"
    assert second.choices[0].message.tool_calls is None


def test_sync_stream_matches_non_stream(client: Any) -> None:
    messages = _user("one two  three")
    plain = client.chat.completions.create(model=MODEL, messages=messages)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content == "echo: one two  three"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump() == plain.usage.model_dump()


def test_stream_without_include_usage_has_no_usage(client: Any) -> None:
    chunks = list(client.chat.completions.create(model=MODEL, messages=_user("x"), stream=True))
    assert chunks
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_stream_carries_tool_calls(client: Any) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=_user("Oslo"), tools=[WEATHER_TOOL], stream=True
    )
    deltas = [tc for c in stream for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(deltas) == 1
    assert deltas[0].function.name == "get_weather"
    assert json.loads(deltas[0].function.arguments)["city"] == "Oslo"


def test_async_stream_matches_non_stream(server: LocalOpenAIServer) -> None:
    async def run() -> tuple[str, str, Any]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key="test-key", max_retries=0
        ) as aclient:
            plain = await aclient.chat.completions.create(model=MODEL, messages=_user("async hi"))
            stream = await aclient.chat.completions.create(
                model=MODEL,
                messages=_user("async hi"),
                stream=True,
                stream_options={"include_usage": True},
            )
            parts, usage = [], None
            async for chunk in stream:
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
                usage = chunk.usage or usage
            return plain.choices[0].message.content, "".join(parts), usage

    plain, streamed, usage = asyncio.run(run())
    assert plain == streamed == "echo: async hi"
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 3, 7)


def test_models_list(client: Any) -> None:
    assert [m.id for m in client.models.list()] == ["local-model"]


def test_unknown_path_is_not_found(client: Any) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.completions.create(model=MODEL, prompt="hi")
    assert info.value.status_code == 404
    assert info.value.code == "not_found"
    assert info.value.type == "invalid_request_error"


def test_bad_json_is_400_in_openai_shape(server: LocalOpenAIServer) -> None:
    req = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    with info.value as err:
        assert err.code == 400
        error = json.loads(err.read())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("Invalid JSON body")
    assert server.requests == []


def test_server_records_bodies_and_headers(server: LocalOpenAIServer, client: Any) -> None:
    client.chat.completions.create(model=MODEL, messages=_user("first"), temperature=0)
    client.chat.completions.create(model="other", messages=_user("second"))
    bodies = server.requests
    assert [b["model"] for b in bodies] == [MODEL, "other"]
    assert bodies[0]["messages"] == _user("first")
    assert bodies[0]["temperature"] == 0
    assert "temperature" not in bodies[1]
    headers = server.request_headers
    assert len(headers) == 2
    assert headers[0]["authorization"] == "Bearer test-key"
    assert headers[0]["content-type"] == "application/json"


def test_custom_responder_and_refusal() -> None:
    seen: list[dict[str, Any]] = []

    def responder(request: dict[str, Any]) -> ChatReply:
        seen.append(request)
        return ChatReply(content=None, refusal="I can't help with that")

    with (
        LocalOpenAIServer(responder=responder) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as c,
    ):
        resp = c.chat.completions.create(model=MODEL, messages=_user("bad idea"))
    assert resp.choices[0].message.refusal == "I can't help with that"
    assert resp.choices[0].message.content is None
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.completion_tokens == 5
    assert seen[0]["messages"][-1]["content"] == "bad idea"


def test_failing_responder_is_a_500() -> None:
    def responder(request: dict[str, Any]) -> ChatReply:
        raise ValueError("boom")

    with (
        LocalOpenAIServer(responder=responder) as srv,
        openai.OpenAI(base_url=srv.base_url, api_key="k", max_retries=0) as c,
    ):
        with pytest.raises(openai.InternalServerError) as info:
            c.chat.completions.create(model=MODEL, messages=_user("x"))
        assert "boom" in info.value.message
        # The server survives a responder failure.
        assert [m.id for m in c.models.list()] == ["local-model"]


def test_chat_reply_finish_reason_defaults() -> None:
    assert ChatReply(content="x").finish_reason == "stop"
    assert ChatReply(tool_calls=[{"name": "f", "arguments": "{}"}]).finish_reason == "tool_calls"
    assert ChatReply(content="x", finish_reason="length").finish_reason == "length"


def test_default_responder_is_deterministic() -> None:
    request = {"model": MODEL, "messages": _user("same"), "tools": [WEATHER_TOOL]}
    assert default_responder(request) == default_responder(json.loads(json.dumps(request)))
    assert default_responder({"messages": []}).content == "echo: "


def test_stop_releases_port_and_drops_kept_alive_connections() -> None:
    srv = LocalOpenAIServer().start()
    url = srv.base_url
    with openai.OpenAI(base_url=url, api_key="k", max_retries=0, timeout=5) as c:
        assert c.chat.completions.create(model=MODEL, messages=_user("hi")).choices
        srv.stop()
        srv.stop()  # idempotent
        with pytest.raises(openai.APIConnectionError):
            c.chat.completions.create(model=MODEL, messages=_user("hi"))
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    with pytest.raises(RuntimeError):
        _ = srv.base_url
