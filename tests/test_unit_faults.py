"""Unit tests of model.faults: models, defaults, validation messages, selection."""

from __future__ import annotations

import re

import pydantic
import pytest

from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.model.faults import (
    AGENT_CALL_KINDS,
    FAULT_KINDS,
    FAULT_MODELS,
    CrashFault,
    Effect,
    FaultSpec,
    HallucinationFault,
    Layer,
    MessageFault,
    parse_fault,
)

DESIGN_KINDS = {
    "crash",
    "hang",
    "delay",
    "memory_wipe",
    "hallucination",
    "refusal",
    "token_limit",
    "api_error",
    "message_drop",
    "message_delay",
    "message_corrupt",
    "message_duplicate",
    "message_reorder",
    "partition",
    "skip_step",
    "wrong_handoff",
    "infinite_loop",
}


def test_fault_kinds_are_exactly_the_design_library() -> None:
    assert set(FAULT_KINDS) == DESIGN_KINDS
    assert len(FAULT_KINDS) == len(DESIGN_KINDS)
    assert set(FAULT_KINDS) >= AGENT_CALL_KINDS


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_kind_parses_with_defaults(kind: str) -> None:
    spec = parse_fault(kind, {})
    assert isinstance(spec, FaultSpec)
    assert type(spec) is FAULT_MODELS[kind]
    assert spec.kind == kind
    assert spec.target == "*"
    assert spec.at_call is None
    assert spec.probability == 1.0
    assert spec.times is None
    assert spec.params() == {}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_model_is_frozen(kind: str) -> None:
    spec = parse_fault(kind, {"target": "pricing"})
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.target = "other"
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        spec.probability = 0.5
    assert spec.target == "pricing"
    assert spec.probability == 1.0


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_every_model_forbids_unknown_fields_directly(kind: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        FAULT_MODELS[kind].model_validate({"bogus": 1})


def test_layers_and_effects() -> None:
    assert FAULT_MODELS["crash"].layer is Layer.AGENT
    assert FAULT_MODELS["crash"].effect is Effect.FAILURE
    assert FAULT_MODELS["delay"].effect is Effect.DISTURBANCE
    assert FAULT_MODELS["hallucination"].layer is Layer.LLM
    assert FAULT_MODELS["hallucination"].effect is Effect.CORRUPTION
    assert FAULT_MODELS["token_limit"].effect is Effect.CORRUPTION
    assert FAULT_MODELS["message_corrupt"].layer is Layer.MESSAGE
    assert FAULT_MODELS["message_corrupt"].effect is Effect.CORRUPTION
    assert FAULT_MODELS["message_drop"].effect is Effect.DISTURBANCE
    assert FAULT_MODELS["wrong_handoff"].layer is Layer.WORKFLOW
    assert FAULT_MODELS["skip_step"].layer is Layer.WORKFLOW
    for kind in FAULT_KINDS:
        if kind.startswith("message_") or kind == "partition":
            assert issubclass(FAULT_MODELS[kind], MessageFault), kind


def test_kind_specific_defaults() -> None:
    crash = parse_fault("crash", {})
    assert isinstance(crash, CrashFault)
    assert crash.when == "before"
    assert parse_fault("delay", {}).seconds == 0.1  # type: ignore[attr-defined]
    assert parse_fault("hang", {}).seconds is None  # type: ignore[attr-defined]
    assert parse_fault("token_limit", {}).keep == 0.5  # type: ignore[attr-defined]
    assert parse_fault("api_error", {}).error == "server_error"  # type: ignore[attr-defined]
    assert parse_fault("message_duplicate", {}).copies == 1  # type: ignore[attr-defined]
    assert parse_fault("partition", {}).duration == 0.5  # type: ignore[attr-defined]
    hallucination = parse_fault("hallucination", {})
    assert isinstance(hallucination, HallucinationFault)
    assert hallucination.field is None
    assert hallucination.value is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1, (1,)), (3, (3,)), ([1, 3], (1, 3)), ((2, 4), (2, 4)), (None, None)],
)
def test_at_call_int_or_list_becomes_tuple(raw: object, expected: object) -> None:
    spec = parse_fault("crash", {"at_call": raw})
    assert spec.at_call == expected
    assert spec.at_call is None or isinstance(spec.at_call, tuple)


def test_params_lists_only_non_defaults() -> None:
    spec = parse_fault("crash", {"target": "pricing", "at_call": 2, "when": "after"})
    assert spec.params() == {"target": "pricing", "at_call": [2], "when": "after"}


# ------------------------------------------------------------------ error messages
def _error(kind: str, arguments: dict[str, object]) -> str:
    with pytest.raises(ChaosConfigError) as info:
        parse_fault(kind, arguments)
    assert isinstance(info.value, ValueError)  # ChaosConfigError is a ValueError too
    return str(info.value)


def test_unknown_kind_suggests_close_name_and_lists_kinds() -> None:
    message = _error("crsh", {})
    assert "'crsh'" in message
    assert "did you mean 'crash'?" in message
    for kind in FAULT_KINDS:
        assert kind in message


def test_unknown_kind_without_close_match_has_no_suggestion() -> None:
    message = _error("zzzzzzzz", {})
    assert "did you mean" not in message
    assert "known kinds: crash" in message


def test_unknown_argument_suggests_close_name_and_lists_allowed() -> None:
    message = _error("crash", {"targt": "pricing"})
    assert message.startswith("crash:")
    assert "'targt'" in message
    assert "did you mean 'target'?" in message
    assert "allowed arguments: target, at_call, probability, times, when" in message


def test_unknown_argument_of_other_kind_suggests() -> None:
    message = _error("hallucination", {"feild": "price"})
    assert "did you mean 'field'?" in message


@pytest.mark.parametrize(
    ("kind", "arguments", "fragments"),
    [
        ("crash", {"probability": 2}, ["argument probability=2", "from 0 to 1"]),
        ("crash", {"probability": -0.1}, ["argument probability=-0.1", "from 0 to 1"]),
        ("crash", {"probability": "often"}, ["argument probability='often'", "from 0 to 1"]),
        ("crash", {"times": 0}, ["argument times=0", ">= 1"]),
        ("crash", {"at_call": 0}, ["argument at_call=0", ">= 1"]),
        ("crash", {"at_call": [1, 0]}, ["argument at_call=[1, 0]", ">= 1"]),
        ("crash", {"at_call": "first"}, ["argument at_call='first'", "call number >= 1"]),
        ("crash", {"when": "during"}, ["argument when='during'", "'before'", "'after'"]),
        ("delay", {"seconds": -1}, ["argument seconds=-1", ">= 0"]),
        ("partition", {"duration": -2}, ["argument duration=-2", ">= 0"]),
        ("token_limit", {"keep": 1.0}, ["argument keep=1.0", "between 0 and 1"]),
        ("token_limit", {"keep": 0}, ["argument keep=0", "between 0 and 1"]),
        ("api_error", {"status": 200}, ["argument status=200", "400 to 599"]),
        ("api_error", {"status": 600}, ["argument status=600", "400 to 599"]),
        (
            "api_error",
            {"error": "boom"},
            ["argument error='boom'", "'timeout'", "'rate_limit'", "'malformed_json'"],
        ),
        ("message_duplicate", {"copies": 0}, ["argument copies=0", ">= 1"]),
        ("crash", {"target": ""}, ["argument target=''", "glob"]),
    ],
)
def test_bad_values_name_argument_value_and_bound(
    kind: str, arguments: dict[str, object], fragments: list[str]
) -> None:
    message = _error(kind, arguments)
    assert message.startswith(f"{kind}:")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_error_is_not_chained_to_pydantic() -> None:
    with pytest.raises(ChaosConfigError) as info:
        parse_fault("crash", {"probability": 5})
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# ------------------------------------------------------------------ selection
@pytest.mark.parametrize(
    ("target", "name", "expected"),
    [
        ("*", "pricing", True),
        ("pricing", "pricing", True),
        ("pricing", "pricing2", False),
        ("pric*", "pricing", True),
        ("pric*", "price", True),
        ("pric*", "marketing", False),
        ("*ing", "marketing", True),
        ("p?icing", "pricing", True),
        ("[pm]*", "marketing", True),
        ("[pm]*", "inventory", False),
        ("Pric*", "pricing", False),  # case-sensitive
    ],
)
def test_matches_globs(target: str, name: str, expected: bool) -> None:
    assert parse_fault("crash", {"target": target}).matches(name) is expected


def test_matches_message_sender_receiver_and_type() -> None:
    spec = parse_fault("message_drop", {"sender": "list*", "receiver": "marketing"})
    assert isinstance(spec, MessageFault)
    assert spec.matches_message("listing", "marketing", None)
    assert spec.matches_message("listing", "marketing", "TASK_ASSIGN")
    assert not spec.matches_message("pricing", "marketing", None)
    assert not spec.matches_message("listing", "inventory", None)
    typed = parse_fault("message_drop", {"message_type": "HEARTBEAT"})
    assert isinstance(typed, MessageFault)
    assert typed.matches_message("a", "b", "HEARTBEAT")
    assert not typed.matches_message("a", "b", "TASK_ASSIGN")
    assert not typed.matches_message("a", "b", None)
    anything = parse_fault("message_corrupt", {})
    assert isinstance(anything, MessageFault)
    assert anything.matches_message("x", "y", "z")


@pytest.mark.parametrize(
    ("kind", "arguments", "named"),
    [
        ("delay", {"seconds": float("inf")}, "seconds=inf"),
        ("hang", {"seconds": float("nan")}, "seconds=nan"),
        ("crash", {"target": "pric["}, "target='pric['"),
        ("message_drop", {"sender": "a[b"}, "sender='a[b'"),
    ],
)
def test_values_that_could_never_work_are_refused_on_every_path(
    kind: str, arguments: dict[str, object], named: str
) -> None:
    """parse_fault itself refuses them, so agentchaos.inject() does too, not only markers."""
    from pytest_agentchaos.engine.controller import ChaosController

    with pytest.raises(ChaosConfigError, match=re.escape(named)):
        parse_fault(kind, arguments)
    with pytest.raises(ChaosConfigError, match=re.escape(named)):
        ChaosController(None).inject(kind, **arguments)
