"""The event envelope every agent of this example publishes, and a reader for its fields.

An event is a protocol :class:`~pytest_agentchaos.Message` published on a topic: its receiver is
the topic, its task names the event, its parameters are the event's fields. The bus checks each
one against the message contract when it is published.
"""

from __future__ import annotations

from typing import Any

from pytest_agentchaos import Message, MessageType


def event(
    topic: str,
    sender: str,
    message_type: MessageType = MessageType.TASK_HANDOFF,
    **fields: Any,
) -> Message:
    """The event ``topic`` from ``sender``, carrying ``fields`` (JSON values)."""
    return Message.create(message_type, sender, topic, task=topic, parameters=fields)


def fields(message: Message) -> dict[str, Any]:
    """An event's fields, as a plain dict."""
    return dict(message.body.parameters)
