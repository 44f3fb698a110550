"""What callers and handlers hand a message bus, read as protocol messages.

A caller sends a :class:`~pytest_agentchaos.protocol.Message`, its dict or its JSON; a handler
replies with a Message, a message dict or a dict of reply parameters. Both are checked against
the message contract unless the bus was made with ``validate=False``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias, TypeGuard, cast

from pydantic import ValidationError

from pytest_agentchaos.model.protocol import (
    ContractViolation,
    Message,
    MessageType,
    validate_message,
)

__all__ = ["RawMessage", "parse_message", "reply_message", "sender_of"]

RawMessage: TypeAlias = Message | str | bytes | Mapping[str, Any]

#: The type of the reply a handler's dict of parameters becomes, by the type of the request.
_REPLY_TYPES = {
    MessageType.REQUEST_CONTEXT: MessageType.PROVIDE_CONTEXT,
    MessageType.STATE_REQUEST: MessageType.STATE_RESPONSE,
}
_HASH_MISMATCH = "semantic_hash mismatch"


def parse_message(raw: object, *, validate: bool) -> Message:
    """``raw`` as a Message; :class:`ContractViolation` when it breaks the contract.

    Without ``validate`` only the message's shape is checked: a stale ``semantic_hash`` passes.
    """
    if not validate and isinstance(raw, Message):
        return raw
    try:
        return validate_message(cast(Any, dict(raw) if _is_mapping(raw) else raw))
    except ContractViolation as error:
        if validate or not error.reason.startswith(_HASH_MISMATCH):
            raise
    if isinstance(raw, Message):
        return raw
    data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return Message.model_validate(data)


def reply_message(message: Message, result: object, replier: str, *, validate: bool) -> Message:
    """What the handler of ``replier`` returned for ``message``, as a reply message."""
    if isinstance(result, Message):
        return parse_message(result, validate=validate)
    if _is_mapping(result):
        data = dict(result)
        if "header" in data:
            return parse_message(data, validate=validate)
        reply_type = _REPLY_TYPES.get(message.header.type, MessageType.TASK_COMPLETE)
        try:
            return Message.create(
                reply_type,
                replier,
                message.header.sender,
                parameters=data,
                correlation_id=message.header.message_id,
            )
        except (ValidationError, ValueError) as error:
            raise ContractViolation(
                f"reply parameters are not JSON values: {error}", result
            ) from error
    raise ContractViolation(
        f"the handler of {replier!r} returned {type(result).__name__}; "
        "return None, a Message, a message dict or a dict of reply parameters",
        result,
    )


def sender_of(raw: object) -> str:
    """Best effort: who sent a message that failed its contract check."""
    data: object = raw
    if isinstance(raw, Message):
        return raw.header.sender
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw)
        except ValueError:
            return "?"
    if isinstance(data, Mapping):
        header = data.get("header")
        if isinstance(header, Mapping) and isinstance(header.get("sender"), str):
            return str(header["sender"])
    return "?"


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)
