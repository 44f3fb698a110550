"""OpenAI SDK chaos: LLM API faults injected in the HTTP transport, under the real SDK.

:class:`ChaosTransport` wraps the ``httpx2`` transport of an ``openai.OpenAI`` or
``openai.AsyncOpenAI`` client. Outside a chaos run it only forwards. In a run it counts the
requests of its client name (the selector that fault ``target`` globs match), fires the armed
LLM faults, and hands the SDK what a misbehaving API would: a timeout after the client's own
read timeout, a reset connection, a 429 with ``Retry-After``, a 5xx, a body that is not JSON, a
refusal, output cut at the token limit, a hallucinated field, a slow first token. The SDK's own
retries and timeouts decide what happens next, and that is what gets measured:

- a failure handed to the SDK (error status, garbage, timeout, refusal) is *detected* the moment
  it is handed over; a later well-formed 2xx answer on the same client *recovers* it, so MTTR
  includes the SDK's backoff (``Retry-After``);
- truncation and hallucination are corruptions: ``silent`` unless something detects them;
- a delay is ``tolerated`` unless it outlasts the client's read timeout.

Events record each request's model, message count and stream flag, and each answer's status,
finish reason and token counts; never headers, so never the API key.

vcrpy patches the ``httpx2`` transport classes; this proxy calls its inner transport through its
class, so faults apply on top of replayed cassette responses too.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import httpx2
import wrapt

from ..corruption import Corruption, hallucinate, plausible_wrong
from ..errors import ChaosConfigError
from ..faults import (
    ApiErrorFault,
    DelayFault,
    FaultSpec,
    HallucinationFault,
    RefusalFault,
    TokenLimitFault,
)
from ..injection import current_run
from ..records import Firing
from ..run import ChaosRun
from ..schedule import rng_for

if TYPE_CHECKING:
    import openai

__all__ = [
    "DEFAULT_RETRY_AFTER_S",
    "LLM_FAULT_KINDS",
    "ChaosTransport",
    "chaos_client",
    "instrument",
    "uninstrument",
]

#: The fault kinds the transport acts on.
LLM_FAULT_KINDS = frozenset({"api_error", "refusal", "token_limit", "hallucination", "delay"})
#: ``Retry-After`` of an injected 429 when the fault sets none.
DEFAULT_RETRY_AFTER_S = 0.05
#: The key :func:`chaos_client` uses when given none and ``OPENAI_API_KEY`` is unset.
PLACEHOLDER_API_KEY = "agentchaos-placeholder-key"

_count_lock = threading.Lock()
_DROPPED_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
_ERROR_BODIES: dict[int, tuple[str, str, str | None]] = {
    429: ("Rate limit reached for requests. Try again later.", "requests", "rate_limit_exceeded"),
    500: ("The server had an error while processing your request.", "server_error", None),
    502: ("Bad gateway.", "server_error", None),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
_PIECE = re.compile(r"\s*\S+\s*|\s+")
_MALFORMED = b'{"id": "chatcmpl-agentchaos", "object": "chat.completion", "choices": [{"mess'
_MALFORMED_SSE = b'data: {"id": "chatcmpl-agentchaos", "choices": [{"delta": {"cont\n\n'


# --------------------------------------------------------------------- one request
@dataclass
class _Plan:
    """What happens before (or instead of) sending: a wait, then an error or canned answer."""

    wait_s: float = 0.0
    error: Exception | None = None
    response: httpx2.Response | None = None
    surfaced: list[Firing] = field(default_factory=list)

    @property
    def replaces_request(self) -> bool:
        return self.error is not None or self.response is not None


class _Exchange:
    """One request of a chaos-enabled client during a run: its firings and its events."""

    def __init__(self, run: ChaosRun, client: str, request: httpx2.Request, body: bytes) -> None:
        self.run, self.client, self.request = run, client, request
        payload = _loads(body) if body else None
        sent = payload if isinstance(payload, dict) else {}
        self.stream = bool(sent.get("stream"))
        read = (request.extensions.get("timeout") or {}).get("read")
        self.timeout_s: float | None = float(read) if read is not None else None
        with _count_lock:
            self.number = run.calls.get(client, 0) + 1
            run.calls[client] = self.number
        run.record(client, "llm_request", None, _describe_request(request, sent, self.number))
        self.delays: list[Firing] = []
        self.error: Firing | None = None
        self.content: list[tuple[int, FaultSpec]] = []
        self.refused = False
        for index, spec in run.armed(LLM_FAULT_KINDS):
            if not spec.matches(client) or not run.decide(index, client, self.number):
                continue
            if isinstance(spec, DelayFault):
                self.delays.append(run.fire(spec, client, self.number))
            elif isinstance(spec, ApiErrorFault):
                if self.error is None:
                    self.error = run.fire(spec, client, self.number)
            else:  # content faults fire once an answer they can change comes back
                self.content.append((index, spec))

    # ------------------------------------------------------------- before sending
    @property
    def delay_s(self) -> float:
        return sum(f.spec.seconds for f in self.delays if isinstance(f.spec, DelayFault))

    def plan(self) -> _Plan:
        """Waits, errors or canned answers that precede or replace the real request."""
        plan = _Plan()
        if self.delays and not self.stream:  # streams wait before their first chunk instead
            if self.timeout_s is not None and self.delay_s >= self.timeout_s:
                return self._timed_out(self.timeout_s, self.delays, "slow response")
            plan.wait_s = self.delay_s
        if self.error is None:
            return plan
        spec = self.error.spec
        assert isinstance(spec, ApiErrorFault)
        if spec.error == "timeout":
            wait = self.timeout_s if self.timeout_s is not None else self.run.settings.deadline_s
            return self._timed_out(wait, [self.error], "injected timeout")
        plan.surfaced = [self.error]
        if spec.error == "connection_reset":
            # What httpx2 raises when the peer resets the connection mid-request.
            plan.error = httpx2.ReadError(
                "[Errno 104] Connection reset by peer (agentchaos)", request=self.request
            )
        else:
            plan.response = self._error_response(spec)
        return plan

    def first_chunk_plan(self) -> _Plan:
        """A slow first token: the wait before a stream's first chunk, or a read timeout."""
        if self.timeout_s is not None and self.delay_s >= self.timeout_s:
            return self._timed_out(self.timeout_s, self.delays, "slow first token")
        return _Plan(wait_s=self.delay_s)

    def _timed_out(self, wait_s: float, firings: list[Firing], why: str) -> _Plan:
        error = httpx2.ReadTimeout(f"timed out after {wait_s:g} s ({why}, agentchaos)")
        return _Plan(wait_s=wait_s, error=error, surfaced=list(firings))

    def _error_response(self, spec: ApiErrorFault) -> httpx2.Response:
        headers = {"content-type": "application/json", "x-agentchaos-fault": spec.error}
        if spec.error == "malformed_json":
            if self.stream:
                headers["content-type"] = "text/event-stream"
            body = _MALFORMED_SSE if self.stream else _MALFORMED
            return httpx2.Response(200, headers=headers, content=body, request=self.request)
        status = spec.status or (429 if spec.error == "rate_limit" else 500)
        retry_after = spec.retry_after
        if retry_after is None and spec.error == "rate_limit":
            retry_after = DEFAULT_RETRY_AFTER_S
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        message, kind, code = _ERROR_BODIES.get(
            status, (f"HTTP {status} (injected by agentchaos).", "server_error", None)
        )
        error = {"message": message, "type": kind, "param": None, "code": code}
        return httpx2.Response(status, headers=headers, json={"error": error}, request=self.request)

    def surface(self, plan: _Plan) -> None:
        """The planned error or canned answer reaches the SDK now: its firings are detected."""
        if plan.error is not None:
            self.failed(plan.error)
            what = type(plan.error).__name__
        else:
            assert plan.response is not None
            self.record_response(plan.response.status_code, None, None, injected=True)
            what = f"HTTP {plan.response.status_code}"
            if plan.response.status_code < 300:
                what = "malformed body"
        for firing in plan.surfaced:
            self.detected(firing, f"{what} handed to {self.client}")

    def detected(self, firing: Firing, reason: str) -> None:
        """``firing`` surfaced, and only it: an error handed to the SDK (which may well retry it
        unseen) is no check of an earlier answer, so hidden corruptions stay hidden."""
        self.run.detect(reason, fault_id=firing.fault_id, hidden=False)

    def failed(self, error: BaseException) -> None:
        """The request failed with ``error`` (injected, a real network error, a cassette miss)."""
        payload = {"request": self.number, "error": type(error).__name__}
        self.run.record(self.client, "llm_error", None, payload)

    # ------------------------------------------------------------ after receiving
    def passed(self, response: httpx2.Response) -> httpx2.Response:
        """An answer that is neither JSON nor an event stream: recorded, passed on."""
        self.record_response(response.status_code, None, None)
        self._not_applicable([spec for _, spec in self.content], "the answer is not JSON")
        if _succeeded(response.status_code):
            self.run.complete(self.client)
        return response

    def answer(self, response: httpx2.Response) -> httpx2.Response:
        """A read JSON answer: apply content faults, record it, recover on a good one."""
        body = response.content
        payload = _loads(body)
        choice = _first_choice(payload)
        if self.content:
            if choice is None or not _succeeded(response.status_code):
                specs = [spec for _, spec in self.content]
                self._not_applicable(specs, "the answer is not a chat completion")
            else:
                message, finish = self._apply(
                    choice.get("message") or {}, choice.get("finish_reason")
                )
                choice["message"], choice["finish_reason"] = message, finish
                body = json.dumps(payload).encode()
        usage = payload.get("usage") if isinstance(payload, dict) else None
        self.record_response(response.status_code, choice and choice.get("finish_reason"), usage)
        if _succeeded(response.status_code) and payload is not None and not self.refused:
            self.run.complete(self.client)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
        return httpx2.Response(
            response.status_code,
            headers=headers,
            content=body,
            extensions=response.extensions,
            request=self.request,
        )

    def record_response(
        self, status: int, finish: Any, usage: Any, *, injected: bool = False, stream: bool = False
    ) -> None:
        payload: dict[str, Any] = {"request": self.number, "status": status}
        if finish is not None:
            payload["finish_reason"] = finish
        if isinstance(usage, dict):
            payload["usage"] = {k: v for k, v in usage.items() if isinstance(v, int)}
        if stream:
            payload["stream"] = True
        if injected:
            payload["injected"] = True
        self.run.record(self.client, "llm_response", None, payload)

    def _not_applicable(self, specs: list[FaultSpec], reason: str) -> None:
        for spec in specs:
            payload = {"kind": spec.kind, "request": self.number, "reason": reason}
            self.run.record(self.client, "fault_not_applicable", None, payload)

    def _apply(self, message: dict[str, Any], finish: Any) -> tuple[dict[str, Any], Any]:
        """Apply the content faults to the assistant message, in the order they were armed."""
        for index, spec in self.content:
            if isinstance(spec, RefusalFault):
                message = {**message, "content": None, "refusal": spec.message}
                message.pop("tool_calls", None)
                finish = "stop"
                firing = self.run.fire(spec, self.client, self.number)
                self.refused = True
                self.detected(firing, f"refusal handed to {self.client}")
                continue
            rng = rng_for(self.run.seed, "llm", index, self.client, self.number)
            changed = _corrupt(message, spec, rng)
            if changed is None:
                self._not_applicable([spec], "no text or field to corrupt in the message")
                continue
            message, where, corruption = changed
            firing = self.run.fire(spec, self.client, self.number)
            firing.corruption = corruption
            firing.detail["field"] = where
            if isinstance(spec, TokenLimitFault):
                finish = "length"
            self.run.corrupted(firing)
        return message, finish

    # --------------------------------------------------------------------- streams
    def streamed(self, response: httpx2.Response, stream_type: type[Any]) -> httpx2.Response:
        """An event stream, passed on decoded, to be watched (and rewritten when content faults
        fired)."""
        rewrite = bool(self.content) and _succeeded(response.status_code)
        stream = stream_type(response, self, rewrite)
        headers = [(k, v) for k, v in response.headers.multi_items() if k not in _DROPPED_HEADERS]
        return httpx2.Response(
            response.status_code,
            headers=headers,
            stream=stream,
            extensions=response.extensions,
            request=self.request,
        )

    def rewrite(self, raw: bytes) -> list[bytes]:
        """Apply the content faults to a whole buffered event stream; one part per event."""
        events = _sse_payloads(raw)
        chunks = [_loads(data) for data in events if data != "[DONE]"]
        assembled = _assemble(chunks)
        if assembled is None:
            specs = [spec for _, spec in self.content]
            self._not_applicable(specs, "the stream is not a one-choice chat completion stream")
            return [raw]
        message, finish = self._apply(*assembled)
        return _serialize_stream(chunks, message, finish, "[DONE]" in events)


class _StreamWatch:
    """Follows the events of a streamed answer as they pass, to record and recover at its end."""

    def __init__(self, exchange: _Exchange, status: int) -> None:
        self.exchange, self.status = exchange, status
        self.buffer = b""
        self.finish: Any = None
        self.usage: Any = None
        self.done = self.broken = self.ended = False

    def feed(self, data: bytes) -> None:
        self.buffer = (self.buffer + data).replace(b"\r\n", b"\n")
        *events, self.buffer = self.buffer.split(b"\n\n")
        for event in events:
            for payload in _sse_payloads(event):
                self._see(payload)

    def _see(self, payload: str) -> None:
        if payload == "[DONE]":
            self.done = True  # SDKs stop reading here and close the response
            self.end()
            return
        chunk = _loads(payload)
        if not isinstance(chunk, dict) or "error" in chunk:
            self.broken = True
            return
        choice = _first_choice(chunk)
        if choice is not None and choice.get("finish_reason"):
            self.finish = choice["finish_reason"]
        if chunk.get("usage"):
            self.usage = chunk["usage"]

    def end(self, error: BaseException | None = None) -> None:
        """The stream finished, or failed with ``error``."""
        if self.ended:
            return
        if error is None and self.buffer.strip():  # a last event without its blank line
            rest, self.buffer = self.buffer, b""
            for payload in _sse_payloads(rest):
                self._see(payload)
            if self.ended:
                return
        self.ended = True
        exchange = self.exchange
        if error is not None:
            exchange.failed(error)
            return
        exchange.record_response(self.status, self.finish, self.usage, stream=True)
        finished = (self.done or self.finish is not None) and not self.broken
        if finished and _succeeded(self.status) and not exchange.refused:
            exchange.run.complete(exchange.client)

    def closed_early(self) -> None:
        """The response is closed: the end, unless the consumer stopped reading midway."""
        if self.ended:
            return
        if self.finish is not None and not self.broken:
            self.end()  # finished, but the stream did not say [DONE]
            return
        self.ended = True
        payload = {"request": self.exchange.number, "status": self.status, "stream": True}
        self.exchange.run.record(self.exchange.client, "llm_stream_closed", None, payload)


class _SyncStream(httpx2.SyncByteStream):
    """The decoded body of a streamed answer, watched, and rewritten when content faults fired."""

    def __init__(self, upstream: httpx2.Response, exchange: _Exchange, rewrite: bool) -> None:
        self.upstream, self.exchange, self.rewrite = upstream, exchange, rewrite
        self.watch = _StreamWatch(exchange, upstream.status_code)

    def __iter__(self) -> Iterator[bytes]:
        exchange = self.exchange
        try:
            if exchange.delays:
                plan = exchange.first_chunk_plan()
                exchange.run.cancelled.wait(plan.wait_s)
                _raise_planned(exchange, plan)
            parts: Iterable[bytes] = self.upstream.iter_bytes()
            if self.rewrite:
                parts = exchange.rewrite(b"".join(parts))
            for part in parts:
                self.watch.feed(part)
                yield part
        except Exception as error:
            self.watch.end(error)
            raise
        self.watch.end()

    def close(self) -> None:
        self.watch.closed_early()
        self.upstream.close()


class _AsyncStream(httpx2.AsyncByteStream):
    """The async twin of :class:`_SyncStream`."""

    def __init__(self, upstream: httpx2.Response, exchange: _Exchange, rewrite: bool) -> None:
        self.upstream, self.exchange, self.rewrite = upstream, exchange, rewrite
        self.watch = _StreamWatch(exchange, upstream.status_code)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import anyio

        exchange = self.exchange
        try:
            if exchange.delays:
                plan = exchange.first_chunk_plan()
                await anyio.sleep(plan.wait_s)
                _raise_planned(exchange, plan)
            if self.rewrite:
                raw = b"".join([part async for part in self.upstream.aiter_bytes()])
                for part in exchange.rewrite(raw):
                    self.watch.feed(part)
                    yield part
            else:
                async for part in self.upstream.aiter_bytes():
                    self.watch.feed(part)
                    yield part
        except Exception as error:
            self.watch.end(error)
            raise
        self.watch.end()

    async def aclose(self) -> None:
        self.watch.closed_early()
        await self.upstream.aclose()


def _raise_planned(exchange: _Exchange, plan: _Plan) -> None:
    if plan.error is not None:
        exchange.surface(plan)
        raise plan.error


# ----------------------------------------------------------------------- transport
class ChaosTransport(wrapt.ObjectProxy[Any]):
    """An ``httpx2`` transport (sync or async) that injects the LLM faults of the active run.

    A proxy: it passes for the transport it wraps, and calls it through its class, so whatever
    patches that class (vcrpy) runs underneath the faults.
    """

    def __init__(self, inner: Any, client_name: str = "openai") -> None:
        super().__init__(inner)
        self._self_client_name = _check_name(client_name)

    @property
    def client_name(self) -> str:
        """The name that fault ``target`` globs select this client by."""
        return str(self._self_client_name)

    @client_name.setter
    def client_name(self, name: str) -> None:
        self._self_client_name = _check_name(name)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        run = current_run()
        inner = self.__wrapped__
        if run is None:
            return inner.handle_request(request)  # type: ignore[no-any-return]
        exchange = _Exchange(run, self.client_name, request, request.read())
        plan = exchange.plan()
        if plan.wait_s:
            run.cancelled.wait(plan.wait_s)
        if plan.replaces_request:
            return _replaced(exchange, plan)
        try:
            response: httpx2.Response = inner.handle_request(request)
            if _is_event_stream(response):
                return exchange.streamed(response, _SyncStream)
            if not _is_json(response):
                return exchange.passed(response)
            response.read()
        except Exception as error:
            exchange.failed(error)
            raise
        return exchange.answer(response)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        run = current_run()
        inner = self.__wrapped__
        if run is None:
            return await inner.handle_async_request(request)  # type: ignore[no-any-return]
        import anyio

        exchange = _Exchange(run, self.client_name, request, await request.aread())
        plan = exchange.plan()
        if plan.wait_s:
            await anyio.sleep(plan.wait_s)
        if plan.replaces_request:
            return _replaced(exchange, plan)
        try:
            response: httpx2.Response = await inner.handle_async_request(request)
            if _is_event_stream(response):
                return exchange.streamed(response, _AsyncStream)
            if not _is_json(response):
                return exchange.passed(response)
            await response.aread()
        except Exception as error:
            exchange.failed(error)
            raise
        return exchange.answer(response)

    def __repr__(self) -> str:
        return f"<ChaosTransport {self.client_name!r} around {self.__wrapped__!r}>"


def _replaced(exchange: _Exchange, plan: _Plan) -> httpx2.Response:
    exchange.surface(plan)
    if plan.error is not None:
        raise plan.error
    assert plan.response is not None
    return plan.response


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ChaosConfigError(f"a chaos client needs a non-empty name, got {name!r}")
    return name


# ------------------------------------------------------------------ public helpers
C = TypeVar("C")


def instrument(client: C, name: str = "openai") -> C:
    """Make ``client`` chaos-enabled in place, under ``name``; returns the same client.

    ``client`` is an ``openai.OpenAI``/``AsyncOpenAI`` (or any SDK client keeping its
    ``httpx2`` client in ``_client``), or an ``httpx2.Client``/``AsyncClient`` itself. Its
    transport, and the transports of its mounts, are wrapped by :class:`ChaosTransport`;
    instrumenting again only renames it. :func:`uninstrument` undoes it.
    """
    http = _http_client_of(client)
    http._transport = _wrap(http._transport, name)
    http._mounts = {
        pattern: _wrap(transport, name) if transport is not None else None
        for pattern, transport in http._mounts.items()
    }
    return client


def uninstrument(client: C) -> C:
    """Give ``client`` back the transports :func:`instrument` wrapped."""
    http = _http_client_of(client)
    http._transport = _unwrap(http._transport)
    http._mounts = {pattern: _unwrap(t) for pattern, t in http._mounts.items()}
    return client


def _wrap(transport: Any, name: str) -> Any:
    if isinstance(transport, ChaosTransport):
        transport.client_name = name
        return transport
    return ChaosTransport(transport, name)


def _unwrap(transport: Any) -> Any:
    return transport.__wrapped__ if isinstance(transport, ChaosTransport) else transport


def _http_client_of(client: object) -> Any:
    http = client if isinstance(client, httpx2.Client | httpx2.AsyncClient) else None
    if http is None:
        http = getattr(client, "_client", None)
    if not isinstance(http, httpx2.Client | httpx2.AsyncClient):
        raise ChaosConfigError(
            f"cannot instrument {type(client).__name__}: it sends through "
            f"{type(http).__name__ if http is not None else 'no httpx2 client'}; "
            "pass an openai.OpenAI or openai.AsyncOpenAI client (openai>=3, built on httpx2), "
            "or an httpx2.Client or httpx2.AsyncClient"
        )
    return http


@overload
def chaos_client(
    base_url: str | None = ...,
    *,
    api_key: str | None = ...,
    name: str = ...,
    async_: Literal[False] = ...,
    **client_kwargs: Any,
) -> openai.OpenAI: ...
@overload
def chaos_client(
    base_url: str | None = ...,
    *,
    api_key: str | None = ...,
    name: str = ...,
    async_: Literal[True],
    **client_kwargs: Any,
) -> openai.AsyncOpenAI: ...
def chaos_client(
    base_url: str | None = None,
    *,
    api_key: str | None = None,
    name: str = "openai",
    async_: bool = False,
    **client_kwargs: Any,
) -> openai.OpenAI | openai.AsyncOpenAI:
    """An ``openai.OpenAI`` (``async_=True``: ``AsyncOpenAI``) for ``base_url`` whose requests
    pass through the chaos transport under ``name``.

    ``client_kwargs`` go to the SDK client (``max_retries``, ``timeout``, ``http_client``...).
    Without ``api_key`` the SDK's ``OPENAI_API_KEY`` is used, or a placeholder key when that
    is unset too (enough for local OpenAI-compatible servers and cassette replay).
    """
    import openai

    if api_key is None and not os.environ.get("OPENAI_API_KEY"):
        api_key = PLACEHOLDER_API_KEY
    factory = openai.AsyncOpenAI if async_ else openai.OpenAI
    return instrument(factory(base_url=base_url, api_key=api_key, **client_kwargs), name)


# ------------------------------------------------------------- request and answers
def _loads(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _succeeded(status: int) -> bool:
    return 200 <= status < 300


def _content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").lower()


def _is_json(response: httpx2.Response) -> bool:
    return "json" in _content_type(response)


def _is_event_stream(response: httpx2.Response) -> bool:
    return "text/event-stream" in _content_type(response)


def _describe_request(request: httpx2.Request, sent: dict[str, Any], number: int) -> dict[str, Any]:
    """What the store keeps of a request: never headers, never the query string."""
    described: dict[str, Any] = {
        "request": number,
        "method": request.method,
        "path": request.url.path,
        "model": sent.get("model"),
        "stream": bool(sent.get("stream")),
    }
    for key in ("messages", "input"):
        if isinstance(sent.get(key), list):
            described[key] = len(sent[key])
    limit = sent.get("max_completion_tokens", sent.get("max_tokens"))
    if isinstance(limit, int):
        described["max_tokens"] = limit
    return described


def _first_choice(payload: Any) -> dict[str, Any] | None:
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _corrupt(
    message: dict[str, Any], spec: FaultSpec, rng: random.Random
) -> tuple[dict[str, Any], str, Corruption] | None:
    """Truncate or hallucinate the content (or first tool call) of an assistant message."""
    content = message.get("content")
    calls = message.get("tool_calls")
    if isinstance(content, str) and content:
        changed = _corrupt_text(content, spec, rng)
        if changed is None:
            return None
        text, where, corruption = changed
        return {**message, "content": text}, f"content{where}", corruption
    if isinstance(calls, list) and calls and isinstance(calls[0], dict):
        function = calls[0].get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str) or not arguments:
            return None
        changed = _corrupt_text(arguments, spec, rng, json_only=True)
        if changed is None:
            return None
        text, where, corruption = changed
        first = {**calls[0], "function": {**function, "arguments": text}}
        return {**message, "tool_calls": [first, *calls[1:]]}, f"tool_calls.0{where}", corruption
    return None


def _corrupt_text(
    text: str, spec: FaultSpec, rng: random.Random, json_only: bool = False
) -> tuple[str, str, Corruption] | None:
    if isinstance(spec, TokenLimitFault):
        cut = text[: int(len(text) * spec.keep)]
        return cut, "", Corruption("", text, cut)
    assert isinstance(spec, HallucinationFault)
    data = _loads(text)
    if isinstance(data, dict | list):
        changed = hallucinate(data, rng, spec.field, spec.value)
        if changed is None:
            return None
        wrong, corruption = changed
        where = f".{corruption.path}" if corruption.path else ""
        return json.dumps(wrong, ensure_ascii=False), where, corruption
    if json_only or spec.field is not None:
        return None  # a named field needs JSON content (structured output)
    wrong_text = _hallucinate_prose(text, rng, spec.value)
    if wrong_text is None or wrong_text == text:
        return None
    return wrong_text, "", Corruption("", text, wrong_text)


def _hallucinate_prose(text: str, rng: random.Random, value: Any) -> str | None:
    """A plausible wrong version of free text: one number changed, else the words shifted."""
    if value is not None:
        return str(value)
    numbers = list(_NUMBER.finditer(text))
    if numbers:
        match = rng.choice(numbers)
        found = match.group()
        number: int | float = float(found) if "." in found else int(found)
        wrong = plausible_wrong(number, rng, [])
        return f"{text[: match.start()]}{wrong}{text[match.end() :]}"
    changed = hallucinate(text, rng, None, None)
    return str(changed[0]) if changed is not None else None


# ------------------------------------------------------------------ event streams
def _sse_payloads(raw: bytes) -> list[str]:
    """The ``data`` of each server-sent event in ``raw``."""
    payloads = []
    for event in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n"):
        lines = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if lines:
            payloads.append("\n".join(lines))
    return payloads


def _assemble(chunks: list[Any]) -> tuple[dict[str, Any], Any] | None:
    """The assistant message and finish reason a one-choice chunk stream adds up to."""
    content: list[str] = []
    refusal: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish: Any = None
    if not chunks or not all(isinstance(c, dict) for c in chunks):
        return None
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                return None
            delta = choice.get("delta") or {}
            content.append(delta.get("content") or "")
            refusal.append(delta.get("refusal") or "")
            for call in delta.get("tool_calls") or ():
                _merge_call(calls.setdefault(call.get("index", 0), {}), call)
            finish = choice.get("finish_reason") or finish
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if any(refusal):
        message["refusal"] = "".join(refusal)
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


def _merge_call(into: dict[str, Any], delta: dict[str, Any]) -> None:
    for key in ("id", "type"):
        if delta.get(key):
            into[key] = delta[key]
    function = into.setdefault("function", {"name": "", "arguments": ""})
    for key in ("name", "arguments"):
        function[key] += (delta.get("function") or {}).get(key) or ""


def _serialize_stream(
    chunks: list[Any], message: dict[str, Any], finish: Any, done: bool
) -> list[bytes]:
    """Chunks for ``message``: role, content pieces or refusal, tool calls, finish, usage."""
    template = next((c for c in chunks if c.get("choices")), chunks[0])
    base = {k: v for k, v in template.items() if k not in ("choices", "usage")}

    def event(delta: dict[str, Any], finish_reason: Any = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return b"data: " + json.dumps({**base, "choices": [choice]}).encode() + b"\n\n"

    refusal = message.get("refusal")
    parts = [event({"role": "assistant", "content": None if refusal else ""})]
    if refusal:
        parts.append(event({"refusal": refusal}))
    parts += [event({"content": piece}) for piece in _PIECE.findall(message.get("content") or "")]
    for index, call in enumerate(message.get("tool_calls") or ()):
        parts.append(event({"tool_calls": [{"index": index, **call}]}))
    parts.append(event({}, finish))
    parts += [b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks if not c.get("choices")]
    if done:
        parts.append(b"data: [DONE]\n\n")
    return parts
