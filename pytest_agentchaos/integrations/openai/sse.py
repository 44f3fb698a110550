"""The chat completion wire format as the chaos transport reads it: JSON bodies and event streams.

Parsing (``data:`` events, one-choice chunk streams added up to a message) and re-chunking a
rewritten message into events. Pure functions of bytes and JSON: the streams that hand an answer
to the SDK are in :mod:`.streams`.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx2

__all__ = [
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
