"""Protocol messages between agents (public path; the models live in ``model.protocol``)."""

from pytest_agentchaos.model.protocol import (
    PROTOCOL_VERSION,
    ContractViolation,
    Message,
    MessageBody,
    MessageHeader,
    MessageType,
    body_hash,
    message_json_schema,
    validate_message,
    write_json_schema,
)

__all__ = [
    "PROTOCOL_VERSION",
    "ContractViolation",
    "Message",
    "MessageBody",
    "MessageHeader",
    "MessageType",
    "body_hash",
    "message_json_schema",
    "validate_message",
    "write_json_schema",
]
