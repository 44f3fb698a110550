"""The model the example talks to: a deterministic stand-in served by ``LocalOpenAIServer``.

Given the conversation so far it answers as a tool-calling chat model would: asked about an
order, it calls ``lookup_order``; given the tool's result, it answers in JSON. The same request
always gets the same answer, so the suite, and the cassette recorded from it, are reproducible.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pytest_agentchaos.testing.openai_server import ChatReply

ORDER_ID = re.compile(r"\b[A-Z]-\d{4}\b")


def respond(request: dict[str, Any]) -> ChatReply:
    """The reply to one chat completion request."""
    messages: list[dict[str, Any]] = request.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return ChatReply(content=json.dumps(_final_answer(json.loads(last["content"]))))
    found = ORDER_ID.search(str(last.get("content") or ""))
    if found and request.get("tools"):
        arguments = json.dumps({"order_id": found.group()})
        return ChatReply(tool_calls=[{"name": "lookup_order", "arguments": arguments}])
    return ChatReply(content=json.dumps({"reply": "Which order? Its number looks like A-1001."}))


def _final_answer(order: dict[str, Any]) -> dict[str, Any]:
    days = order["eta_days"]
    reply = f"Order {order['order_id']} is {order['status']}; expect it in {days} days."
    return {
        "order_id": order["order_id"],
        "status": order["status"],
        "eta_days": days,
        "reply": reply,
    }
