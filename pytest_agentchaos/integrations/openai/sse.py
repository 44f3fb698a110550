"""The chat completion wire format as the chaos transport reads it: JSON bodies and event streams.

Parsing (``data:`` events, one-choice chunk streams added up to a message), re-chunking a
rewritten message into events, and the byte streams that hand a streamed answer to the SDK
while :class:`StreamWatch` follows it, so that its end is recorded and a good one recovers.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    from pytest_agentchaos.integrations.openai.faults import Exchange, Plan

__all__ = [
    "AsyncStream",
    "StreamWatch",
    "SyncStream",
    "assemble",
    "first_choice",
    "is_event_stream",
    "is_json",
    "loads",
    "serialize_stream",
    "sse_payloads",
    "succeeded",
]

_PIECE = re.compile(r"\s*\S+\s*|\s+")


# ------------------------------------------------------------------ bodies and answers
def loads(data: bytes | str) -> Any:
    """``data`` as JSON, or ``None`` when it is not JSON."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def succeeded(status: int) -> bool:
    return 200 <= status < 300


def _content_type(response: httpx2.Response) -> str:
    return response.headers.get("content-type", "").lower()


def is_json(response: httpx2.Response) -> bool:
    return "json" in _content_type(response)


def is_event_stream(response: httpx2.Response) -> bool:
    return "text/event-stream" in _content_type(response)


def first_choice(payload: Any) -> dict[str, Any] | None:
    """The first choice of a chat completion (or chunk), if it has one."""
    choices = payload.get("choices") if isinstance(payload, dict) else None
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


# ------------------------------------------------------------------ event streams
def sse_payloads(raw: bytes) -> list[str]:
    """The ``data`` of each server-sent event in ``raw``."""
    payloads = []
    for event in raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n"):
        lines = [
            line[5:].removeprefix(" ") for line in event.split("\n") if line.startswith("data:")
        ]
        if lines:
            payloads.append("\n".join(lines))
    return payloads


def assemble(chunks: list[Any]) -> tuple[dict[str, Any], Any] | None:
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


def serialize_stream(
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


# ------------------------------------------------------------------ watched streams
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


def _raise_planned(exchange: Exchange, plan: Plan) -> None:
    if plan.error is not None:
        exchange.surface(plan)
        raise plan.error


class SyncStream(httpx2.SyncByteStream):
    """The decoded body of a streamed answer, watched, and rewritten when content faults fired."""

    def __init__(self, upstream: httpx2.Response, exchange: Exchange, rewrite: bool) -> None:
        self.upstream, self.exchange, self.rewrite = upstream, exchange, rewrite
        self.watch = StreamWatch(exchange, upstream.status_code)

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


class AsyncStream(httpx2.AsyncByteStream):
    """The async twin of :class:`SyncStream`."""

    def __init__(self, upstream: httpx2.Response, exchange: Exchange, rewrite: bool) -> None:
        self.upstream, self.exchange, self.rewrite = upstream, exchange, rewrite
        self.watch = StreamWatch(exchange, upstream.status_code)

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
