"""The inter-agent message envelope.

Every message exchanged between agents under test is a :class:`Message`: a
:class:`MessageHeader` (who, to whom, what kind, when, and a content hash) plus a
:class:`MessageBody` (the task, its parameters, shared context and the meaning of any
negotiated terms). ``header.semantic_hash`` is the sha256 of the body's canonical JSON,
so a body altered in transit -- by a chaos fault or a buggy agent -- is detected by
:func:`validate_message` instead of being silently acted on.

The models are frozen and reject unknown fields: the envelope is a contract, and the
contract is published as JSON Schema via :func:`message_json_schema`.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from pytest_agentchaos.errors import AgentChaosError

PROTOCOL_VERSION = "1.0"

JSONValue: TypeAlias = JsonValue


class MessageType(StrEnum):
    TASK_ASSIGN = "TASK_ASSIGN"
    TASK_COMPLETE = "TASK_COMPLETE"
    TASK_HANDOFF = "TASK_HANDOFF"
    TASK_FAIL = "TASK_FAIL"
    HEARTBEAT = "HEARTBEAT"
    REQUEST_CONTEXT = "REQUEST_CONTEXT"
    PROVIDE_CONTEXT = "PROVIDE_CONTEXT"
    NEGOTIATE_TERM = "NEGOTIATE_TERM"
    AGENT_FAILED = "AGENT_FAILED"
    STATE_REQUEST = "STATE_REQUEST"
    STATE_RESPONSE = "STATE_RESPONSE"
    AGENT_RESTORED = "AGENT_RESTORED"


_ALLOWED_TYPES = ", ".join(t.value for t in MessageType)


class MessageHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    type: MessageType
    sender: str = Field(min_length=1)
    receiver: str = Field(min_length=1)
    timestamp: float = Field(default_factory=time.time)
    protocol_version: str = PROTOCOL_VERSION
    correlation_id: str | None = None
    semantic_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class MessageBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str | None = None
    parameters: dict[str, JSONValue] = Field(default_factory=dict)
    context: dict[str, JSONValue] = Field(default_factory=dict)
    semantic_definitions: dict[str, str] = Field(default_factory=dict)


def body_hash(body: MessageBody) -> str:
    """sha256 hex digest of the body's canonical JSON (sorted keys, no whitespace)."""
    # allow_nan=False: NaN/inf have no JSON form, so they could never round-trip to the
    # same hash; failing at creation is better than a spurious mismatch on receipt.
    canonical = json.dumps(
        body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    header: MessageHeader
    body: MessageBody

    @classmethod
    def create(
        cls,
        type: MessageType | str,
        sender: str,
        receiver: str,
        *,
        task: str | None = None,
        parameters: dict[str, JSONValue] | None = None,
        context: dict[str, JSONValue] | None = None,
        semantic_definitions: dict[str, str] | None = None,
        correlation_id: str | None = None,
    ) -> Message:
        body = MessageBody(
            task=task,
            parameters=parameters or {},
            context=context or {},
            semantic_definitions=semantic_definitions or {},
        )
        header = MessageHeader(
            type=MessageType(type),
            sender=sender,
            receiver=receiver,
            correlation_id=correlation_id,
            semantic_hash=body_hash(body),
        )
        return cls(header=header, body=body)

    def to_json(self) -> str:
        return self.model_dump_json()

    def reply(
        self,
        type: MessageType | str,
        *,
        task: str | None = None,
        parameters: dict[str, JSONValue] | None = None,
        context: dict[str, JSONValue] | None = None,
        semantic_definitions: dict[str, str] | None = None,
    ) -> Message:
        """A new message back to the sender, correlated with this one's id."""
        return Message.create(
            type,
            self.header.receiver,
            self.header.sender,
            task=task,
            parameters=parameters,
            context=context,
            semantic_definitions=semantic_definitions,
            correlation_id=self.header.message_id,
        )

    def verify_hash(self) -> bool:
        # frozen stops attribute assignment, not in-place edits of the body's dicts,
        # so the hash is always recomputed rather than trusted.
        return body_hash(self.body) == self.header.semantic_hash


def message_json_schema() -> dict[str, object]:
    return Message.model_json_schema()


def write_json_schema(path: str | os.PathLike[str]) -> Path:
    out = Path(path)
    out.write_text(json.dumps(message_json_schema(), indent=2) + "\n", encoding="utf-8")
    return out


class ContractViolation(AgentChaosError, ValueError):
    """A message that breaks the envelope contract; ``reason`` says which field and why."""

    def __init__(self, reason: str, raw: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def _describe(err: ValidationError) -> str:
    missing: list[str] = []
    problems: list[str] = []
    for e in err.errors():
        field = ".".join(str(part) for part in e["loc"])
        if e["type"] == "missing":
            missing.append(field)
        elif e["type"] == "enum" and e["loc"][-1] == "type":
            problems.append(
                f"unknown message type {e['input']!r} in {field} (allowed: {_ALLOWED_TYPES})"
            )
        elif e["type"] == "extra_forbidden":
            problems.append(f"unexpected field {field!r}")
        else:
            problems.append(f"invalid {field}: {e['msg']}")
    if missing:
        problems.insert(0, "missing field(s): " + ", ".join(missing))
    return "; ".join(problems)


def validate_message(raw: str | bytes | dict[str, object] | Message) -> Message:
    """Parse and check a message, raising :class:`ContractViolation` on any breach."""
    if isinstance(raw, Message):
        msg = raw
    else:
        data: object = raw
        if isinstance(raw, str | bytes):
            try:
                data = json.loads(raw)
            except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
                raise ContractViolation(f"not valid JSON: {exc}", raw) from exc
        if not isinstance(data, dict):
            got = type(data).__name__
            raise ContractViolation(f"message must be a JSON object, got {got}", raw)
        try:
            msg = Message.model_validate(data)
        except ValidationError as exc:
            raise ContractViolation(_describe(exc), raw) from exc
    if not msg.verify_hash():
        reason = "semantic_hash mismatch: body does not match header.semantic_hash (corrupted?)"
        raise ContractViolation(reason, raw)
    return msg
