"""Unit tests for the inter-agent message envelope (pytest_agentchaos.protocol)."""

from __future__ import annotations

import json
from pathlib import Path

import pydantic
import pytest

from pytest_agentchaos.protocol import (
    PROTOCOL_VERSION,
    ContractViolation,
    Message,
    MessageType,
    body_hash,
    message_json_schema,
    validate_message,
    write_json_schema,
)


@pytest.fixture
def msg() -> Message:
    return Message.create(
        MessageType.TASK_ASSIGN,
        "planner",
        "executor",
        task="book flight",
        parameters={"budget": 500, "dates": ["2024-05-01", None], "nested": {"k": 1.5}},
        context={"user": "alice"},
        semantic_definitions={"budget": "maximum total price in EUR"},
    )


def test_message_type_values_equal_names() -> None:
    assert len(MessageType) == 12
    assert all(t.value == t.name for t in MessageType)


def test_create_fills_header_defaults(msg: Message) -> None:
    h = msg.header
    assert h.type is MessageType.TASK_ASSIGN
    assert (h.sender, h.receiver) == ("planner", "executor")
    assert h.protocol_version == PROTOCOL_VERSION
    assert len(h.message_id) == 32
    assert h.correlation_id is None
    assert h.semantic_hash == body_hash(msg.body)
    assert msg.verify_hash()


def test_message_ids_are_unique() -> None:
    a = Message.create(MessageType.HEARTBEAT, "a", "b")
    b = Message.create(MessageType.HEARTBEAT, "a", "b")
    assert a.header.message_id != b.header.message_id


def test_round_trip_through_json(msg: Message) -> None:
    text = msg.to_json()
    assert isinstance(json.loads(text), dict)
    back = validate_message(text)
    assert back == msg
    assert validate_message(text.encode()) == msg
    assert validate_message(json.loads(text)) == msg
    assert validate_message(msg) is msg


def test_reply_swaps_parties_and_correlates(msg: Message) -> None:
    reply = msg.reply(MessageType.TASK_COMPLETE, task="done", parameters={"price": 420})
    assert reply.header.type is MessageType.TASK_COMPLETE
    assert (reply.header.sender, reply.header.receiver) == ("executor", "planner")
    assert reply.header.correlation_id == msg.header.message_id
    assert reply.header.message_id != msg.header.message_id
    assert reply.body.parameters == {"price": 420}
    assert reply.verify_hash()


def test_hash_detects_tampered_parameter(msg: Message) -> None:
    data = json.loads(msg.to_json())
    data["body"]["parameters"]["budget"] = 5000
    with pytest.raises(ContractViolation, match="semantic_hash") as exc_info:
        validate_message(json.dumps(data))
    assert exc_info.value.raw == json.dumps(data)


def test_hash_detects_in_place_body_mutation(msg: Message) -> None:
    # frozen does not cover the dict contents, so the hash is the real guard
    msg.body.context["user"] = "mallory"
    assert not msg.verify_hash()
    with pytest.raises(ContractViolation, match="semantic_hash"):
        validate_message(msg)


def test_hash_is_key_order_independent() -> None:
    a = Message.create(MessageType.TASK_ASSIGN, "a", "b", parameters={"x": 1, "y": 2})
    b = Message.create(MessageType.TASK_ASSIGN, "a", "b", parameters={"y": 2, "x": 1})
    assert a.header.semantic_hash == b.header.semantic_hash


def test_missing_header_field_is_named(msg: Message) -> None:
    data = json.loads(msg.to_json())
    del data["header"]["sender"]
    with pytest.raises(ContractViolation) as exc_info:
        validate_message(data)
    reason = exc_info.value.reason
    assert "missing" in reason
    assert "header.sender" in reason
    assert "receiver" not in reason
    assert str(exc_info.value) == reason


def test_unknown_type_is_named_with_allowed_list(msg: Message) -> None:
    data = json.loads(msg.to_json())
    data["header"]["type"] = "TASK_EXPLODE"
    with pytest.raises(ContractViolation) as exc_info:
        validate_message(data)
    reason = exc_info.value.reason
    assert "'TASK_EXPLODE'" in reason
    assert all(t.value in reason for t in MessageType)


def test_extra_field_rejected(msg: Message) -> None:
    data = json.loads(msg.to_json())
    data["body"]["priority"] = "high"
    with pytest.raises(ContractViolation, match=r"unexpected field 'body\.priority'"):
        validate_message(data)


def test_bad_hash_format_rejected(msg: Message) -> None:
    data = json.loads(msg.to_json())
    data["header"]["semantic_hash"] = data["header"]["semantic_hash"].upper()
    with pytest.raises(ContractViolation, match=r"header\.semantic_hash"):
        validate_message(data)


@pytest.mark.parametrize("raw", ['{"header": ', "not json at all", b"\xff\xfe"])
def test_invalid_json(raw: str | bytes) -> None:
    with pytest.raises(ContractViolation, match=r"^not valid JSON: ") as exc_info:
        validate_message(raw)
    assert exc_info.value.raw == raw


def test_non_object_json_rejected() -> None:
    with pytest.raises(ContractViolation, match="JSON object, got list"):
        validate_message("[1, 2]")


def test_contract_violation_is_value_error() -> None:
    assert issubclass(ContractViolation, ValueError)


def test_schema_lists_types_and_required_header_fields() -> None:
    schema = message_json_schema()
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    assert set(defs["MessageType"]["enum"]) == {t.value for t in MessageType}
    assert len(defs["MessageType"]["enum"]) == 12
    required = set(defs["MessageHeader"]["required"])
    assert {"type", "sender", "receiver", "semantic_hash"} <= required
    assert schema["required"] == ["header", "body"]
    assert defs["MessageHeader"]["additionalProperties"] is False


def test_write_json_schema(tmp_path: Path) -> None:
    out = write_json_schema(tmp_path / "message.schema.json")
    assert json.loads(out.read_text(encoding="utf-8")) == message_json_schema()


def test_models_are_frozen(msg: Message) -> None:
    with pytest.raises(pydantic.ValidationError):
        msg.header.sender = "intruder"
    with pytest.raises(pydantic.ValidationError):
        msg.body = msg.body
