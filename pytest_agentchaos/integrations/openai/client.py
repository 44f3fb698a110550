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

This module holds the transport and the public helpers. A request's control flow is written
once, as a generator of steps run by the engine's sync or async driver, so sync and async
clients obey the same rules (an injected wait ends when the run is cancelled, in both). What
each fault does to a request and its answer is in :mod:`.faults`, the streams handed to the
SDK in :mod:`.streams`, and the wire format (JSON bodies, event streams) in :mod:`.sse`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from pytest_agentchaos.errors import ChaosConfigError, MissingExtraError

try:  # openai 3.x sends through httpx2; a core install has neither
    import httpx2
except ImportError:
    raise MissingExtraError("the OpenAI integration", "openai>=3", "llm") from None
import wrapt

from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_async, run_sync
from pytest_agentchaos.integrations.openai.faults import (
    DEFAULT_RETRY_AFTER_S,
    LLM_FAULT_KINDS,
    Exchange,
    Plan,
)
from pytest_agentchaos.integrations.openai.sse import is_event_stream, is_json
from pytest_agentchaos.integrations.openai.streams import AsyncStream, SyncStream

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

#: The key :func:`chaos_client` uses when given none and ``OPENAI_API_KEY`` is unset.
PLACEHOLDER_API_KEY = "agentchaos-placeholder-key"


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
        return run_sync(self._exchange(run, request, inner.handle_request, _SYNC))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        run = current_run()
        inner = self.__wrapped__
        if run is None:
            return await inner.handle_async_request(request)  # type: ignore[no-any-return]
        return await run_async(self._exchange(run, request, inner.handle_async_request, _ASYNC))

    def _exchange(
        self, run: ChaosRun, request: httpx2.Request, send: Callable[..., Any], io: _Io
    ) -> Steps[httpx2.Response]:
        """One request in a run, for either driver: plan, wait, then send or hand over a fault.

        Injected waits (a delay, a timeout) end early when the run is cancelled.
        """
        exchange = Exchange(
            run, self.client_name, request, (yield Invoke(io.read_request, (request,)))
        )
        plan = exchange.plan()
        if plan.wait_s:
            yield Wait(plan.wait_s, run.cancelled)
        if plan.replaces_request:
            return _replaced(exchange, plan)
        try:
            response: httpx2.Response = yield Invoke(send, (request,))
            if is_event_stream(response):
                return exchange.streamed(response, io.stream)
            if not is_json(response):
                return exchange.passed(response)
            yield Invoke(io.read_response, (response,))
        except Exception as error:
            exchange.failed(error)
            raise
        return exchange.answer(response)

    def __repr__(self) -> str:
        return f"<ChaosTransport {self.client_name!r} around {self.__wrapped__!r}>"


@dataclass(frozen=True)
class _Io:
    """How one driver reads bodies, and which stream it hands a streamed answer to."""

    read_request: Callable[[httpx2.Request], Any]
    read_response: Callable[[httpx2.Response], Any]
    stream: type[SyncStream | AsyncStream]


_SYNC = _Io(httpx2.Request.read, httpx2.Response.read, SyncStream)
_ASYNC = _Io(httpx2.Request.aread, httpx2.Response.aread, AsyncStream)


def _replaced(exchange: Exchange, plan: Plan) -> httpx2.Response:
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
