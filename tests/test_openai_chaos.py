"""LLM API faults under the real OpenAI SDK, against a local server and committed cassettes.

The chaos run is driven directly (``ChaosRun`` + ``activate``), as the plugin does per test.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")
httpx2 = pytest.importorskip("httpx2")
pytest.importorskip("vcr")

from pytest_agentchaos.engine.injection import activate  # noqa: E402
from pytest_agentchaos.engine.run import ChaosRun  # noqa: E402
from pytest_agentchaos.errors import ChaosConfigError  # noqa: E402
from pytest_agentchaos.integrations.cassettes import (  # noqa: E402
    CassetteMismatchError,
    use_cassette,
)
from pytest_agentchaos.integrations.openai import (  # noqa: E402
    ChaosTransport,
    chaos_client,
    instrument,
    uninstrument,
)
from pytest_agentchaos.model.faults import parse_fault  # noqa: E402
from pytest_agentchaos.model.outcomes import FaultResult  # noqa: E402
from pytest_agentchaos.testing.openai_server import (  # noqa: E402
    ChatReply,
    LocalOpenAIServer,
    default_responder,
)

API_KEY = "sk-agentchaos-unit-SECRET-4c1d"
MODEL = "gpt-test"
PROMPT = [{"role": "user", "content": "the price is 42 dollars"}]
HERE = Path(__file__).parent
COMMITTED = HERE / "cassettes" / "openai_echo.yaml"
NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens: replay must not touch the network

RunFactory = Callable[..., ChaosRun]


@pytest.fixture
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as srv:
        yield srv


@pytest.fixture
def chaos() -> Iterator[RunFactory]:
    """Start a chaos run with the given faults (``(kind, arguments)`` pairs) and activate it."""

    def start(*faults: tuple[str, dict[str, Any]], seed: int = 7) -> ChaosRun:
        specs = [parse_fault(kind, arguments) for kind, arguments in faults]
        run = ChaosRun(run_id="run", nodeid="test", seed=seed, faults=specs)
        activate(run)
        return run

    yield start
    activate(None)


@pytest.fixture
def client(server: LocalOpenAIServer) -> Iterator[Any]:
    with chaos_client(server.base_url, api_key=API_KEY) as c:
        yield c


def finished(run: ChaosRun) -> list[FaultResult]:
    activate(None)
    return run.finish()


def events(run: ChaosRun, kind: str) -> list[Any]:
    return [payload for _, _, event_kind, _, payload in run.events if event_kind == kind]


def ask(c: Any, **kwargs: Any) -> Any:
    return c.chat.completions.create(model=MODEL, messages=PROMPT, **kwargs)


def stream_text(c: Any, **kwargs: Any) -> tuple[str, str, str | None]:
    """(content, refusal, finish_reason) of a streamed completion."""
    content, refusal, finish = "", "", None
    for chunk in ask(c, stream=True, **kwargs):
        for choice in chunk.choices:
            content += choice.delta.content or ""
            refusal += choice.delta.refusal or ""
            finish = choice.finish_reason or finish
    return content, refusal, finish


# ----------------------------------------------------------------------- api errors
def test_without_a_run_requests_pass_untouched(client: Any, server: LocalOpenAIServer) -> None:
    assert ask(client).choices[0].message.content == "echo: the price is 42 dollars"
    assert len(server.requests) == 1


def test_rate_limit_is_retried_after_retry_after_and_recovered(
    chaos: RunFactory, client: Any, server: LocalOpenAIServer
) -> None:
    run = chaos(("api_error", {"error": "rate_limit", "retry_after": 0.15, "at_call": 1}))
    started = time.monotonic()
    reply = ask(client)
    assert time.monotonic() - started >= 0.15
    assert reply.choices[0].message.content == "echo: the price is 42 dollars"
    assert len(server.requests) == 1  # the 429 never reached the server
    assert run.calls["openai"] == 2
    (result,) = finished(run)
    assert result.outcome == "recovered"
    assert result.mttr_s is not None
    # the advertised delay, not the SDK's own backoff (0.375 s at least)
    assert 0.15 <= result.mttr_s < 0.35
    statuses = [e["status"] for e in events(run, "llm_response")]
    assert statuses == [429, 200]


def test_rate_limit_without_retries_surfaces_as_the_sdk_error(
    chaos: RunFactory, server: LocalOpenAIServer
) -> None:
    run = chaos(("api_error", {"error": "rate_limit", "retry_after": 3}))
    with (
        chaos_client(server.base_url, api_key=API_KEY, max_retries=0) as c,
        pytest.raises(openai.RateLimitError) as caught,
    ):
        ask(c)
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.code == "rate_limit_exceeded"
    assert [r.outcome for r in finished(run)] == ["unrecovered"]


def test_malformed_body_without_retries_is_unrecovered(
    chaos: RunFactory, server: LocalOpenAIServer
) -> None:
    run = chaos(("api_error", {"error": "malformed_json", "at_call": 1}))
    with (
        chaos_client(server.base_url, api_key=API_KEY, max_retries=0) as c,
        pytest.raises(json.JSONDecodeError),
    ):
        ask(c)
    (result,) = finished(run)
    assert result.outcome == "unrecovered"
    assert result.detected_by == "malformed body handed to openai"


def test_timeout_respects_the_client_timeout(chaos: RunFactory, server: LocalOpenAIServer) -> None:
    run = chaos(("api_error", {"error": "timeout"}))
    with chaos_client(server.base_url, api_key=API_KEY, max_retries=0, timeout=0.3) as c:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(c)
        elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 1.0
    assert server.requests == []
    (result,) = finished(run)
    assert result.outcome == "unrecovered"
    assert result.mttd_s is not None
    assert result.mttd_s >= 0.3


@pytest.mark.parametrize(
    ("arguments", "sdk_error"),
    [
        ({"error": "server_error", "status": 503, "retry_after": 0.05}, openai.InternalServerError),
        ({"error": "server_error", "retry_after": 0.05}, openai.InternalServerError),
        ({"error": "connection_reset"}, openai.APIConnectionError),
    ],
    ids=["503", "500", "reset"],
)
def test_transient_errors_are_retried_by_the_sdk(
    chaos: RunFactory, server: LocalOpenAIServer, arguments: dict[str, Any], sdk_error: type
) -> None:
    run = chaos(("api_error", {**arguments, "at_call": 1}))
    with chaos_client(server.base_url, api_key=API_KEY, max_retries=0) as c:
        with pytest.raises(sdk_error):
            ask(c)
        assert ask(c).choices[0].finish_reason == "stop"  # the caller retries by hand
    (result,) = finished(run)
    assert result.outcome == "recovered"


def test_async_client_rate_limit_recovered(chaos: RunFactory, server: LocalOpenAIServer) -> None:
    run = chaos(("api_error", {"error": "rate_limit", "retry_after": 0.1, "at_call": 1}))

    async def go() -> str:
        async with chaos_client(server.base_url, api_key=API_KEY, async_=True) as c:
            reply = await c.chat.completions.create(model=MODEL, messages=PROMPT)
            return str(reply.choices[0].message.content)

    assert asyncio.run(go()) == "echo: the price is 42 dollars"
    (result,) = finished(run)
    assert result.outcome == "recovered"
    assert result.mttr_s is not None
    assert result.mttr_s >= 0.1


# ------------------------------------------------------------------- content faults
def test_refusal_replaces_the_answer(chaos: RunFactory, client: Any) -> None:
    run = chaos(("refusal", {"message": "I cannot do that.", "at_call": 1}))
    message = ask(client).choices[0].message
    assert (message.content, message.refusal) == (None, "I cannot do that.")
    assert [r.outcome for r in run.finish()] == ["unrecovered"]


def test_refusal_then_a_good_answer_is_recovered(chaos: RunFactory, client: Any) -> None:
    run = chaos(("refusal", {"at_call": 1}))
    assert ask(client).choices[0].message.refusal
    assert ask(client).choices[0].message.content
    assert [r.outcome for r in finished(run)] == ["recovered"]


def test_token_limit_truncates_and_is_silent_until_detected(chaos: RunFactory, client: Any) -> None:
    run = chaos(("token_limit", {"keep": 0.5, "at_call": 1}))
    choice = ask(client).choices[0]
    full = "echo: the price is 42 dollars"
    assert choice.finish_reason == "length"
    assert choice.message.content == full[: len(full) // 2]
    (silent,) = run.finish()
    assert silent.outcome == "silent"
    assert silent.params["detail"] == {"field": "content"}


def test_token_limit_detected_then_retried_is_recovered(chaos: RunFactory, client: Any) -> None:
    run = chaos(("token_limit", {"at_call": 1}))
    assert ask(client).choices[0].finish_reason == "length"
    assert run.detect("finish_reason was length") == 1
    assert ask(client).choices[0].finish_reason == "stop"
    assert [r.outcome for r in finished(run)] == ["recovered"]


def test_a_later_api_error_does_not_count_as_detecting_a_corruption(
    chaos: RunFactory, client: Any
) -> None:
    run = chaos(
        ("token_limit", {"at_call": 1}), ("api_error", {"error": "rate_limit", "at_call": 2})
    )
    assert ask(client).choices[0].finish_reason == "length"
    assert ask(client).choices[0].finish_reason == "stop"  # 429, retried by the SDK
    outcomes = {r.kind: r.outcome for r in finished(run)}
    assert outcomes == {"token_limit": "silent", "api_error": "recovered"}


def test_faults_armed_during_the_run_apply_to_later_requests(
    chaos: RunFactory, client: Any
) -> None:
    run = chaos()
    assert ask(client).choices[0].message.refusal is None
    run.add_fault(parse_fault("refusal", {"target": "openai"}))
    assert ask(client).choices[0].message.refusal is not None
    assert [r.call_number for r in finished(run)] == [2]


def test_hallucination_replaces_a_field_of_structured_output(
    chaos: RunFactory, client: Any
) -> None:
    run = chaos(("hallucination", {"field": "length", "at_call": 1}))
    reply = ask(client, response_format={"type": "json_object"})
    answer = json.loads(reply.choices[0].message.content)
    assert answer["answer"] == "the price is 42 dollars"
    assert isinstance(answer["length"], int)
    assert answer["length"] != 23
    (result,) = finished(run)
    assert result.outcome == "silent"
    assert result.params["detail"] == {"field": "content.length"}
    assert run.firings[0].corruption is not None
    assert run.firings[0].corruption.replacement == answer["length"]


def test_hallucination_with_a_value_and_in_prose(chaos: RunFactory, client: Any) -> None:
    run = chaos(
        ("hallucination", {"field": "answer", "value": "nothing", "at_call": 1}),
        ("hallucination", {"at_call": 2}),
    )
    structured = ask(client, response_format={"type": "json_object"})
    assert json.loads(structured.choices[0].message.content)["answer"] == "nothing"
    prose = ask(client).choices[0].message.content
    changed = re.fullmatch(r"echo: the price is (-?\d+) dollars", prose)
    assert changed is not None
    assert changed.group(1) != "42"
    assert [r.outcome for r in finished(run)] == ["silent", "silent"]


def test_hallucination_in_tool_call_arguments(chaos: RunFactory, client: Any) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "set_price",
            "parameters": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "cents": {"type": "integer"}},
                "required": ["sku", "cents"],
            },
        },
    }
    chaos(("hallucination", {"field": "cents", "value": 999}))
    call = ask(client, tools=[tool]).choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments) == {"sku": PROMPT[0]["content"], "cents": 999}


def test_content_fault_on_an_error_answer_is_not_applicable(chaos: RunFactory) -> None:
    def broken(request: dict[str, Any]) -> ChatReply:
        raise RuntimeError("model down")

    run = chaos(("token_limit", {}))
    with (
        LocalOpenAIServer(broken) as srv,
        chaos_client(srv.base_url, max_retries=0) as c,
        pytest.raises(openai.InternalServerError),
    ):
        ask(c)
    assert finished(run) == []  # nothing was corrupted, so nothing fired
    (skipped,) = events(run, "fault_not_applicable")
    assert skipped["kind"] == "token_limit"


def test_delay_within_the_timeout_is_tolerated(chaos: RunFactory, client: Any) -> None:
    run = chaos(("delay", {"seconds": 0.15}))
    started = time.monotonic()
    assert ask(client).choices[0].message.content
    assert time.monotonic() - started >= 0.15
    assert [r.outcome for r in finished(run)] == ["tolerated"]


# ------------------------------------------------------------------------- streams
def test_stream_rate_limit_recovered(chaos: RunFactory, client: Any) -> None:
    run = chaos(("api_error", {"error": "rate_limit", "at_call": 1}))
    content, _, finish = stream_text(client)
    assert (content, finish) == ("echo: the price is 42 dollars", "stop")
    assert [r.outcome for r in finished(run)] == ["recovered"]


def test_stream_token_limit_and_refusal(chaos: RunFactory, client: Any) -> None:
    run = chaos(("token_limit", {"keep": 0.25, "at_call": 1}), ("refusal", {"at_call": 2}))
    content, refusal, finish = stream_text(client, stream_options={"include_usage": True})
    assert (content, refusal, finish) == ("echo: t", "", "length")
    content, refusal, finish = stream_text(client)
    assert (content, finish) == ("", "stop")
    assert refusal == "I'm sorry, but I can't help with that."
    assert [r.outcome for r in finished(run)] == ["silent", "unrecovered"]
    first = events(run, "llm_response")[0]
    assert first["finish_reason"] == "length"
    assert first["usage"]["total_tokens"] > 0


def test_stream_malformed_chunk_raises_and_is_unrecovered(chaos: RunFactory, client: Any) -> None:
    run = chaos(("api_error", {"error": "malformed_json"}))
    with pytest.raises(ValueError):
        stream_text(client)
    assert [r.outcome for r in finished(run)] == ["unrecovered"]


def test_slow_first_token_beyond_the_read_timeout_times_out(
    chaos: RunFactory, server: LocalOpenAIServer
) -> None:
    run = chaos(("delay", {"seconds": 5.0, "at_call": 1}))
    with chaos_client(server.base_url, api_key=API_KEY, timeout=0.2) as c:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            stream_text(c)
        assert time.monotonic() - started < 1.0
        assert stream_text(c)[2] == "stop"
    assert [r.outcome for r in finished(run)] == ["recovered"]


def test_async_stream_with_slow_first_token(chaos: RunFactory, server: LocalOpenAIServer) -> None:
    run = chaos(("delay", {"seconds": 0.15}), ("hallucination", {"value": "made up"}))

    async def go() -> tuple[list[str], float]:
        async with chaos_client(server.base_url, api_key=API_KEY, async_=True) as c:
            started = time.monotonic()
            stream = await c.chat.completions.create(model=MODEL, messages=PROMPT, stream=True)
            first = None
            parts = []
            async for chunk in stream:
                first = first or time.monotonic()
                parts += [ch.delta.content or "" for ch in chunk.choices]
            assert first is not None
            return parts, first - started

    parts, first_after = asyncio.run(go())
    assert "".join(parts) == "made up"
    assert first_after >= 0.15
    assert sorted(r.outcome for r in finished(run)) == ["silent", "tolerated"]


# ------------------------------------------------------- cancellation and timestamps
class TimedResponder:
    """The default answers, each after ``delay_s``; records when each answer was made."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.answered_ns: list[int] = []

    def __call__(self, request: dict[str, Any]) -> ChatReply:
        time.sleep(self.delay_s)
        self.answered_ns.append(time.monotonic_ns())
        return default_responder(request)


def ask_any(stream: bool, async_: bool, base_url: str, **client_kwargs: Any) -> str:
    """Ask once with a sync or async client, streamed or not; returns the content."""

    async def ask_async() -> str:
        async with chaos_client(base_url, api_key=API_KEY, async_=True, **client_kwargs) as c:
            reply = await c.chat.completions.create(model=MODEL, messages=PROMPT, stream=stream)
            if not stream:
                return str(reply.choices[0].message.content)
            return "".join(
                [ch.delta.content or "" async for chunk in reply for ch in chunk.choices]
            )

    if async_:
        return asyncio.run(ask_async())
    with chaos_client(base_url, api_key=API_KEY, **client_kwargs) as c:
        return stream_text(c)[0] if stream else str(ask(c).choices[0].message.content)


def wake_after_cancel(fault: tuple[str, dict[str, Any]], async_: bool, stream: bool) -> float:
    """Seconds from cancelling a run to the end of the injected wait its request was in."""
    responder = TimedResponder()
    run = ChaosRun(run_id="run", nodeid="test", seed=7, faults=[parse_fault(*fault)])
    activate(run)
    cancelled_ns: list[int] = []

    def cancel_once_the_wait_began() -> None:
        while not events(run, "llm_request"):
            time.sleep(0.005)
        time.sleep(0.05)
        cancelled_ns.append(time.monotonic_ns())
        run.cancelled.set()

    threading.Thread(target=cancel_once_the_wait_began, daemon=True).start()
    with LocalOpenAIServer(responder) as server:
        try:  # a timeout waits the client's 30 s read timeout, then raises
            content = ask_any(stream, async_, server.base_url, max_retries=0, timeout=30.0)
        except openai.APITimeoutError:
            content = "timed out"
    finished(run)

    [(requested_ns, *_)] = [e for e in run.events if e[2] == "llm_request"]
    assert requested_ns < cancelled_ns[0]  # the wait had begun when the run was cancelled
    # The first thing that happens once the wait is over: a timeout is handed over, a delayed
    # request reaches the server, a delayed stream (whose request went first) is read to its end.
    if fault[0] == "api_error":
        assert content == "timed out"
        [(woken_ns, *_)] = [e for e in run.events if e[2] == "llm_error"]
    else:
        assert content == "echo: the price is 42 dollars"
        [(woken_ns, *_)] = [e for e in run.events if e[2] == "llm_response"]
        woken_ns = woken_ns if stream else responder.answered_ns[0]
    return (woken_ns - cancelled_ns[0]) / 1e9


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    "fault",
    [("delay", {"seconds": 5.0}), ("api_error", {"error": "timeout"})],
    ids=["delay", "timeout"],
)
def test_an_injected_wait_ends_within_50ms_of_the_run_being_cancelled(
    fault: tuple[str, dict[str, Any]], async_: bool, stream: bool
) -> None:
    # Best of three: a wait that ignores cancellation would go on for 5 or 30 s every time,
    # while one slow wake-up of a thread on a loaded 2-core machine says nothing about the code.
    woke_after_s = []
    for _ in range(3):
        woke_after_s.append(wake_after_cancel(fault, async_, stream))
        if woke_after_s[-1] < 0.05:
            break
    assert min(woke_after_s) < 0.05, f"the wait went on {woke_after_s} s after cancel"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("kind", ["token_limit", "hallucination"])
def test_content_faults_are_stamped_when_the_answer_is_rewritten(
    chaos: RunFactory, kind: str, async_: bool, stream: bool
) -> None:
    """The model takes 200 ms; a check 30 ms after the answer arrived reads an MTTD of ~30 ms."""
    responder = TimedResponder(delay_s=0.2)
    with LocalOpenAIServer(responder) as slow_server:
        run = chaos((kind, {"at_call": 1}))
        ask_any(stream, async_, slow_server.base_url, max_retries=0)
        received_ns = time.monotonic_ns()
        time.sleep(0.03)
        run.detect("the test checked the answer")
    (result,) = finished(run)
    [answered_ns] = responder.answered_ns

    # Rewritten after the model answered and before the client had the answer.
    assert answered_ns <= result.injected_ns <= received_ns
    assert result.detected_ns is not None
    truth_s = (result.detected_ns - received_ns) / 1e9
    assert result.mttd_s is not None
    assert truth_s <= result.mttd_s <= truth_s + (received_ns - answered_ns) / 1e9
    assert result.mttd_s < 0.1  # stamped at the request's start it would be over 0.23 s


def test_compressed_answers_are_decoded_before_faults_apply(chaos: RunFactory) -> None:
    import gzip

    base = {"id": "c1", "created": 0, "model": MODEL}
    message = {"role": "assistant", "content": "abcdefgh"}
    completion = {
        **base,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }
    deltas = [({"role": "assistant", "content": ""}, None), ({"content": "abcdefgh"}, None)]
    chunks = [
        {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": d, "finish_reason": f}],
        }
        for d, f in [*deltas, ({}, "stop")]
    ]
    sse = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"

    def gzipped(request: Any) -> Any:
        stream = json.loads(request.content).get("stream")
        raw = sse.encode() if stream else json.dumps(completion).encode()
        kind = "text/event-stream" if stream else "application/json"
        headers = {"content-type": kind, "content-encoding": "gzip"}
        return httpx2.Response(200, headers=headers, content=gzip.compress(raw))

    run = chaos(("token_limit", {"keep": 0.25}))
    http = httpx2.Client(transport=httpx2.MockTransport(gzipped))
    with chaos_client("http://llm.test/v1", http_client=http) as c:
        assert ask(c).choices[0].message.content == "ab"
        assert stream_text(c) == ("ab", "", "length")
    assert [r.outcome for r in finished(run)] == ["silent", "silent"]


# ------------------------------------------------------------- selection and events
def test_target_selects_the_client_by_name(chaos: RunFactory, server: LocalOpenAIServer) -> None:
    run = chaos(("refusal", {"target": "writer*"}))
    with (
        chaos_client(server.base_url, api_key=API_KEY, name="planner") as planner,
        chaos_client(server.base_url, api_key=API_KEY, name="writer-1") as writer,
    ):
        assert ask(planner).choices[0].message.refusal is None
        assert ask(writer).choices[0].message.refusal is not None
    assert [(r.kind, r.target) for r in finished(run)] == [("refusal", "writer-1")]


def test_probability_schedule_is_replayed_by_the_seed(
    chaos: RunFactory, server: LocalOpenAIServer
) -> None:
    def fired_calls(seed: int) -> list[int | None]:
        run = chaos(("token_limit", {"probability": 0.5}), seed=seed)
        with chaos_client(server.base_url, api_key=API_KEY) as c:
            for _ in range(8):
                ask(c)
        return [r.call_number for r in finished(run)]

    first = fired_calls(11)
    assert 0 < len(first) < 8
    assert fired_calls(11) == first


def test_events_hold_model_and_tokens_but_no_secret(chaos: RunFactory, client: Any) -> None:
    run = chaos(("api_error", {"error": "rate_limit", "at_call": 1}))
    ask(client, max_tokens=50)
    request = events(run, "llm_request")[0]
    assert request == {
        "request": 1,
        "method": "POST",
        "path": "/v1/chat/completions",
        "model": MODEL,
        "stream": False,
        "messages": 1,
        "max_tokens": 50,
    }
    response = events(run, "llm_response")[-1]
    assert response["usage"] == {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11}
    assert response["finish_reason"] == "stop"
    finished(run)
    stored = json.dumps([list(event) for event in run.events])
    assert API_KEY not in stored
    assert "authorization" not in stored.lower()


# ------------------------------------------------------------------ instrumentation
def test_instrument_wraps_in_place_and_passes_for_the_original(server: LocalOpenAIServer) -> None:
    with openai.OpenAI(base_url=server.base_url, api_key=API_KEY) as c:
        original = c._client._transport
        assert instrument(c, "pricing") is c
        transport = c._client._transport
        assert isinstance(transport, ChaosTransport)
        assert transport.__wrapped__ is original
        assert isinstance(transport, httpx2.HTTPTransport)
        assert instrument(c, "renamed")._client._transport is transport
        assert transport.client_name == "renamed"
        assert uninstrument(c)._client._transport is original
    mounted = httpx2.HTTPTransport()
    with httpx2.Client(mounts={"http://": mounted, "https://": None}) as http:
        instrument(http, "raw")
        (wrapped,) = [t for t in http._mounts.values() if t is not None]
        assert wrapped.client_name == "raw"
        assert wrapped.__wrapped__ is mounted


def test_instrument_rejects_what_it_cannot_wrap() -> None:
    with pytest.raises(ChaosConfigError, match="cannot instrument object"):
        instrument(object())
    with pytest.raises(ChaosConfigError, match="non-empty name"):
        chaos_client(NOWHERE, name="")


def test_importing_the_plugin_leaves_the_sdk_unloaded() -> None:
    code = (
        "import sys, pytest_agentchaos, pytest_agentchaos.plugin, "
        "pytest_agentchaos.plugin.openai, pytest_agentchaos.integrations.cassettes\n"
        "print(sorted(m for m in ('openai', 'httpx2', 'vcr') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------ cassettes
def record_echo_cassette(path: Path, base_url: str) -> None:
    """How tests/cassettes/openai_echo.yaml was recorded (from LocalOpenAIServer)."""
    with use_cassette(path, "once"), chaos_client(base_url, api_key=API_KEY) as c:
        ask(c)
        stream_text(c)
        ask(c, response_format={"type": "json_object"})


def test_committed_cassette_matches_a_fresh_recording(
    server: LocalOpenAIServer, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.yaml"
    record_echo_cassette(fresh, server.base_url)
    text = fresh.read_text()
    assert API_KEY not in text
    assert "authorization" not in text.lower()
    assert "x-stainless" not in text.lower()

    def bodies(path: Path) -> list[tuple[str, str]]:
        import yaml

        data = yaml.safe_load(path.read_text())
        return [
            (i["request"]["body"], i["response"]["body"]["string"]) for i in data["interactions"]
        ]

    assert bodies(fresh) == bodies(COMMITTED)


@pytest.mark.chaos_cassette("cassettes/openai_echo.yaml")
def test_committed_cassette_replays_offline(chaos: RunFactory) -> None:
    run = chaos(
        ("api_error", {"error": "rate_limit", "at_call": 1}), ("token_limit", {"at_call": 3})
    )
    with chaos_client(NOWHERE, max_retries=1) as c:
        assert ask(c).choices[0].message.content == "echo: the price is 42 dollars"
        content, _, finish = stream_text(c)
        assert finish == "length"
        assert content == "echo: the pric"
    assert [r.outcome for r in finished(run)] == ["recovered", "silent"]


def test_replay_with_faults_on_top_is_recovered_async(chaos: RunFactory) -> None:
    run = chaos(
        ("api_error", {"error": "server_error", "status": 503, "retry_after": 0.05, "at_call": 1}),
        ("api_error", {"error": "rate_limit", "at_call": 2}),
    )

    async def go() -> Any:
        async with chaos_client(NOWHERE, async_=True, max_retries=2) as c:
            return await c.chat.completions.create(model=MODEL, messages=PROMPT)

    with use_cassette(COMMITTED, "none") as cassette:
        reply = asyncio.run(go())
        assert cassette.play_count == 1  # the injected errors used up no recorded answer
    assert reply.choices[0].message.content == "echo: the price is 42 dollars"
    assert [r.outcome for r in finished(run)] == ["recovered", "recovered"]


def test_cassette_miss_names_the_request(tmp_path: Path) -> None:
    with (
        use_cassette(COMMITTED, "none"),
        chaos_client(NOWHERE, max_retries=0) as c,
        pytest.raises(CassetteMismatchError) as caught,
    ):
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "new"}])
    message = str(caught.value)
    assert message.startswith(f"cassette {COMMITTED} has no answer for POST /v1/chat/completions")
    assert '"content":"new"' in message
    assert "--chaos-record-mode=new_episodes" in message

    missing = tmp_path / "missing.yaml"
    with (
        use_cassette(missing, "none"),
        chaos_client(NOWHERE, max_retries=0) as c,
        pytest.raises(CassetteMismatchError, match=r"(?s)does not exist.*record-mode=once"),
    ):
        ask(c)
    assert not missing.exists()


def test_cassette_miss_of_an_async_client_names_the_request() -> None:
    async def ask_new() -> None:
        async with chaos_client(NOWHERE, max_retries=0, async_=True) as c:
            await c.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "new"}]
            )

    with use_cassette(COMMITTED, "none"), pytest.raises(CassetteMismatchError) as caught:
        asyncio.run(ask_new())
    message = str(caught.value)
    assert message.startswith(f"cassette {COMMITTED} has no answer for POST /v1/chat/completions")
    assert '"content":"new"' in message
