"""Streamed answers handed to the SDK: watched as they pass, rewritten when content faults fired.

The control flow of a stream (a slow first token, the rewrite of a buffered stream, the end
that is recorded and recovers) is written once, as the steps to each next part
(:meth:`StreamParts.next_part`); :class:`SyncStream` and :class:`AsyncStream` only drive those
steps and say how they read upstream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2

from pytest_agentchaos.engine.steps import Invoke, Steps, Wait, run_async, run_sync
from pytest_agentchaos.integrations.openai.faults import Exchange
from pytest_agentchaos.integrations.openai.sse import first_choice, loads, sse_payloads, succeeded

__all__ = ["AsyncStream", "StreamParts", "StreamWatch", "SyncStream"]


class StreamWatch:
    """Follows the events of a streamed answer as they pass, to record and recover at its end."""

    def __init__(self, exchange: Exchange, status: int) -> None:
        self.exchange, self.status = exchange, status
        self.buffer = b""
        self.finish: Any = None
        self.usage: Any = None
        self.done = self.broken = self.ended = False

    def feed(self, data: bytes) -> None:
        self.buffer = (self.buffer + data).replace(b"\r\n", b"\n")
        *events, self.buffer = self.buffer.split(b"\n\n")
        for event in events:
            for payload in sse_payloads(event):
                self._see(payload)

    def _see(self, payload: str) -> None:
        if payload == "[DONE]":
            self.done = True  # SDKs stop reading here and close the response
            self.end()
            return
        chunk = loads(payload)
        if not isinstance(chunk, dict) or "error" in chunk:
            self.broken = True
            return
        choice = first_choice(chunk)
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
            for payload in sse_payloads(rest):
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
        if finished and succeeded(self.status) and not exchange.refused:
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


class StreamParts:
    """What a streamed answer hands the SDK, part by part, for either driver.

    ``read_all()`` reads the whole upstream body and ``read_next()`` its next chunk (``None``
    at its end); under the async driver both return awaitables.
    """

    def __init__(
        self,
        upstream: httpx2.Response,
        exchange: Exchange,
        rewrite: bool,
        read_all: Callable[[], Any],
        read_next: Callable[[], Any],
    ) -> None:
        self.exchange, self.rewrite = exchange, rewrite
        self.read_all, self.read_next = read_all, read_next
        self.watch = StreamWatch(exchange, upstream.status_code)
        self.started = False
        self.rewritten: deque[bytes] | None = None

    def next_part(self) -> Steps[bytes | None]:
        """The steps to the next part to hand the SDK; ``None`` once the stream has ended."""
        try:
            if not self.started:
                self.started = True
                yield from self._first_steps()
            if self.rewritten is not None:
                part = self.rewritten.popleft() if self.rewritten else None
            else:
                part = yield Invoke(self.read_next)
        except Exception as error:
            self.watch.end(error)
            raise
        if part is None:
            self.watch.end()
        else:
            self.watch.feed(part)
        return part

    def _first_steps(self) -> Steps[None]:
        """A slow first token (or a read timeout), then, with content faults, the rewrite."""
        exchange = self.exchange
        if exchange.delays:
            plan = exchange.first_chunk_plan()
            yield Wait(plan.wait_s, exchange.run.cancelled)
            if plan.error is not None:
                exchange.surface(plan)
                raise plan.error
        if self.rewrite:
            raw = yield Invoke(self.read_all)
            self.rewritten = deque(exchange.rewrite(raw))


class SyncStream(httpx2.SyncByteStream):
    """The decoded body of a streamed answer, watched, and rewritten when content faults fired."""

    def __init__(self, upstream: httpx2.Response, exchange: Exchange, rewrite: bool) -> None:
        chunks = upstream.iter_bytes()
        self.upstream = upstream
        self.parts = StreamParts(
            upstream, exchange, rewrite, upstream.read, lambda: next(chunks, None)
        )

    def __iter__(self) -> Iterator[bytes]:
        while (part := run_sync(self.parts.next_part())) is not None:
            yield part

    def close(self) -> None:
        self.parts.watch.closed_early()
        self.upstream.close()


class AsyncStream(httpx2.AsyncByteStream):
    """:class:`SyncStream` for an async client: the same steps, driven in the event loop."""

    def __init__(self, upstream: httpx2.Response, exchange: Exchange, rewrite: bool) -> None:
        chunks = upstream.aiter_bytes()
        self.upstream = upstream
        self.parts = StreamParts(
            upstream, exchange, rewrite, upstream.aread, lambda: anext(chunks, None)
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (part := await run_async(self.parts.next_part())) is not None:
            yield part

    async def aclose(self) -> None:
        self.parts.watch.closed_early()
        await self.upstream.aclose()
