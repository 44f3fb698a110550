"""An order-status support agent on the OpenAI SDK: one tool, a tool-calling loop, one check.

``answer(client, question)`` sends the question with the ``lookup_order`` tool, runs the tool
call the model asks for, sends the tool's result back and returns the model's final JSON
answer, checked against that result.

How it is built to survive a misbehaving API (what ``test_agent.py`` probes):

- rate limits and timeouts are left to the SDK: its ``max_retries`` and ``timeout``, set on the
  client, retry a 429 after its ``Retry-After`` and a request that timed out;
- an outage (a 5xx, a body that is not JSON, a connection the SDK gave up on) switches the
  conversation to ``FALLBACK_MODEL``, once; if that fails too it raises ``ModelUnavailable``;
- a refusal is asked again, and output cut at the token limit (``finish_reason == "length"``)
  is asked again with twice the ``max_tokens``;
- the final answer's ``order_id`` and ``status`` must match the tool's result, else the model
  is asked again. Nothing checks ``eta_days``: that is the gap the suite documents.

Each step is an ``@agent``, so that under ``pytest --chaos`` every failure that leaves a step is
recorded (and detects a corrupted answer) and the next good step counts as the recovery.
Outside a chaos run the decorators only forward.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionMessage

from pytest_agentchaos import agent

MODEL = "local-model"
FALLBACK_MODEL = "local-model-mini"
SYSTEM_PROMPT = (
    "You answer customers' questions about their orders. Look the order up with lookup_order, "
    'then answer in JSON: {"order_id", "status", "eta_days", "reply"}.'
)
ORDERS = {
    "A-1001": {"order_id": "A-1001", "status": "shipped", "carrier": "DHL", "eta_days": 2},
    "A-1002": {"order_id": "A-1002", "status": "processing", "carrier": None, "eta_days": 5},
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "The status, carrier and expected delivery of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string", "description": "e.g. A-1001"}},
                "required": ["order_id"],
            },
        },
    }
]
#: What a model endpoint that is down looks like once the SDK has given up on it.
OUTAGES = (openai.InternalServerError, openai.APIConnectionError, json.JSONDecodeError)


class SupportError(Exception):
    """The agent could not answer the question."""


class ModelRefused(SupportError):
    """The model refused to answer."""


class OutputTruncated(SupportError):
    """The model's output was cut at the token limit."""


class AnswerMismatch(SupportError):
    """The final answer contradicts what the tool returned."""


class ModelUnavailable(SupportError):
    """Neither the model nor its fallback could be reached."""


@dataclass(frozen=True)
class Settings:
    model: str = MODEL
    fallback_model: str = FALLBACK_MODEL
    max_tokens: int = 200
    attempts: int = 3


@dataclass(frozen=True)
class Answer:
    order_id: str
    status: str
    eta_days: int
    reply: str
    model: str  # the model that gave it: MODEL, or FALLBACK_MODEL after an outage


# ------------------------------------------------------------------------- the steps
@agent("lookup_order")
def lookup_order(order_id: str) -> dict[str, Any]:
    """The tool: the order's record, or an error the model can read."""
    return ORDERS.get(order_id, {"error": f"no order {order_id}"})


@agent("model")
def ask_model(
    client: openai.OpenAI, messages: list[dict[str, Any]], model: str, max_tokens: int
) -> ChatCompletionMessage:
    """One model turn; raises when its answer cannot be used as it is."""
    completion = client.chat.completions.create(
        model=model,
        messages=messages,
        tools=TOOLS,
        max_tokens=max_tokens,
        response_format={"type": "json_object"},
    )
    choice = completion.choices[0]
    if choice.message.refusal:
        raise ModelRefused(choice.message.refusal)
    if choice.finish_reason == "length":
        raise OutputTruncated(f"output cut at max_tokens={max_tokens}")
    return choice.message


@agent("checker")
def check_answer(content: str | None, order: dict[str, Any], model: str) -> Answer:
    """The final answer, parsed and checked against the tool's result (but for ``eta_days``)."""
    try:
        data = json.loads(content or "")
    except ValueError:
        raise AnswerMismatch(f"the answer is not JSON: {content!r}") from None
    for key in ("order_id", "status"):
        if data.get(key) != order[key]:
            raise AnswerMismatch(f"{key} is {data.get(key)!r}, the order says {order[key]!r}")
    return Answer(order["order_id"], data["status"], data["eta_days"], data["reply"], model)


# ------------------------------------------------------------------------- the loop
class _Conversation:
    """The messages so far, and the model they go to (the fallback, after an outage)."""

    def __init__(self, client: openai.OpenAI, question: str, settings: Settings) -> None:
        self.client, self.settings, self.model = client, settings, settings.model
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": question},
        ]

    def turn(self) -> ChatCompletionMessage:
        """The model's next message, asked again (or of the fallback) until it is usable."""
        max_tokens = self.settings.max_tokens
        for _ in range(self.settings.attempts):
            try:
                return ask_model(self.client, self.messages, self.model, max_tokens)
            except ModelRefused:
                continue  # a refusal of a harmless request rarely repeats
            except OutputTruncated:
                max_tokens *= 2
            except OUTAGES as error:
                if self.model == self.settings.fallback_model:
                    raise ModelUnavailable(f"{self.model} is down too: {error}") from error
                self.model = self.settings.fallback_model
        raise SupportError(f"no usable answer in {self.settings.attempts} attempts")


@agent("support")
def answer(client: openai.OpenAI, question: str, settings: Settings | None = None) -> Answer:
    """Answer a customer's question about an order."""
    chat = _Conversation(client, question, settings or Settings())
    message = chat.turn()
    if not message.tool_calls or message.tool_calls[0].function.name != "lookup_order":
        raise SupportError("the model answered without looking the order up")
    call = message.tool_calls[0]
    order = lookup_order(json.loads(call.function.arguments)["order_id"])
    if "error" in order:
        raise SupportError(order["error"])
    chat.messages += [
        {
            "role": "assistant",
            "content": message.content,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": json.dumps(order)},
    ]
    attempts_left = chat.settings.attempts
    while True:
        try:
            return check_answer(chat.turn().content, order, chat.model)
        except AnswerMismatch:
            attempts_left -= 1
            if not attempts_left:
                raise
