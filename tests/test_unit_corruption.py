"""Unit tests of model.corruption: wrong values, hallucination, truncation, wipes."""

from __future__ import annotations

import random
from collections import OrderedDict, defaultdict
from typing import Any

import pydantic
import pytest

from pytest_agentchaos.model.corruption import (
    Corruption,
    carries,
    hallucinate,
    plausible_wrong,
    truncate,
    wipe_memory,
)

SEEDS = range(25)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        1,
        7,
        -40,
        1000,
        19.99,
        0.0,
        2.5,
        1234.5678,
        "pricing",
        "a b c",
        [1, 2, 3],
        ["x"],
    ],
)
def test_plausible_wrong_keeps_type_and_differs(value: Any) -> None:
    for seed in SEEDS:
        wrong = plausible_wrong(value, random.Random(seed), [])
        assert type(wrong) is type(value), (value, wrong)
        assert wrong != value, (value, seed)


def test_plausible_wrong_bool_is_negation() -> None:
    assert plausible_wrong(True, random.Random(0), []) is False
    assert plausible_wrong(False, random.Random(0), []) is True


def test_plausible_wrong_int_stays_close() -> None:
    for seed in SEEDS:
        wrong = plausible_wrong(100, random.Random(seed), [])
        assert 10 <= abs(wrong - 100) <= 50


def test_plausible_wrong_money_keeps_two_decimals() -> None:
    for seed in SEEDS:
        wrong = plausible_wrong(19.99, random.Random(seed), [])
        assert round(wrong, 2) == wrong
        assert 0.5 * 19.99 <= wrong <= 1.5 * 19.99


def test_plausible_wrong_str_prefers_a_sibling() -> None:
    siblings = ["red", "green", "", 3, "blue"]
    for seed in SEEDS:
        assert plausible_wrong("red", random.Random(seed), siblings) in {"green", "blue"}


def test_plausible_wrong_str_rotates_words_or_reverses() -> None:
    assert plausible_wrong("blue widget pro", random.Random(0), []) == "widget pro blue"
    assert plausible_wrong("abc", random.Random(0), []) == "cba"
    assert plausible_wrong("aaa", random.Random(0), []) == "aaa (revised)"


def test_plausible_wrong_list_and_unsupported() -> None:
    assert plausible_wrong([1, 2, 3], random.Random(0), []) == [1, 2]
    assert plausible_wrong(["x"], random.Random(0), []) == ["x", "x"]
    assert hallucinate([], random.Random(0), None, None) is None
    assert hallucinate(None, random.Random(0), None, None) is None


def test_plausible_wrong_is_seeded() -> None:
    assert plausible_wrong(42.5, random.Random(7), []) == plausible_wrong(
        42.5, random.Random(7), []
    )


@pytest.mark.parametrize("value", [0.01, 0.03])
def test_plausible_wrong_small_money_value_differs(value: float) -> None:
    for seed in SEEDS:
        assert plausible_wrong(value, random.Random(seed), []) != value


@pytest.mark.parametrize("value", ["level", "go go"])
def test_plausible_wrong_palindrome_differs(value: str) -> None:
    assert plausible_wrong(value, random.Random(0), []) != value


# ------------------------------------------------------------------ hallucinate
def test_hallucinate_dict_field() -> None:
    original = {"price": 19.99, "name": "widget", "stock": 5}
    result = hallucinate(original, random.Random(1), "price", None)
    assert result is not None
    changed, corruption = result
    assert corruption == Corruption("price", 19.99, changed["price"])
    assert changed["price"] != 19.99
    assert isinstance(changed["price"], float)
    assert changed["name"] == "widget"
    assert changed["stock"] == 5
    assert original == {"price": 19.99, "name": "widget", "stock": 5}
    assert changed is not original


def test_hallucinate_nested_dotted_field() -> None:
    original = {"product": {"offer": {"price": 10.0, "currency": "EUR"}}, "id": 3}
    result = hallucinate(original, random.Random(2), "product.offer.price", None)
    assert result is not None
    changed, corruption = result
    assert corruption.path == "product.offer.price"
    assert corruption.original == 10.0
    assert changed["product"]["offer"]["price"] == corruption.replacement != 10.0
    assert changed["product"]["offer"]["currency"] == "EUR"
    assert original["product"]["offer"]["price"] == 10.0  # type: ignore[index]


def test_hallucinate_explicit_value() -> None:
    result = hallucinate({"price": 10.0}, random.Random(0), "price", 0.5)
    assert result is not None
    assert result[0] == {"price": 0.5}
    assert result[1] == Corruption("price", 10.0, 0.5)


def test_hallucinate_explicit_value_equal_to_original_is_not_applied() -> None:
    assert hallucinate({"price": 10.0}, random.Random(0), "price", 10.0) is None


def test_hallucinate_missing_field_returns_none() -> None:
    assert hallucinate({"price": 10.0}, random.Random(0), "cost", None) is None
    assert hallucinate({"a": {"b": 1}}, random.Random(0), "a.c", None) is None
    assert hallucinate({"a": 1}, random.Random(0), "a.b", None) is None


def test_hallucinate_random_field_is_a_leaf_and_seeded() -> None:
    value = {"a": 1, "b": {"c": "text here", "d": None}, "e": [1, 2]}
    first = hallucinate(value, random.Random(5), None, None)
    second = hallucinate(value, random.Random(5), None, None)
    assert first is not None
    assert first == second
    assert first[1].path in {"a", "b.c", "e"}  # None leaves are never chosen


def test_hallucinate_scalar_result() -> None:
    result = hallucinate(100, random.Random(0), None, None)
    assert result is not None
    assert result[1].path == ""
    assert result[0] != 100
    assert hallucinate("text", random.Random(0), None, "other") == (
        "other",
        Corruption("", "text", "other"),
    )


class Offer(pydantic.BaseModel):
    price: float
    title: str


class FrozenOffer(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)
    price: float
    title: str
    inner: Offer


def test_hallucinate_pydantic_model_leaves_original_unchanged() -> None:
    offer = Offer(price=20.0, title="lamp")
    result = hallucinate(offer, random.Random(3), "price", None)
    assert result is not None
    changed, corruption = result
    assert isinstance(changed, Offer)
    assert changed.price == corruption.replacement != 20.0
    assert changed.title == "lamp"
    assert offer.price == 20.0


def test_hallucinate_frozen_pydantic_model_nested() -> None:
    offer = FrozenOffer(price=20.0, title="lamp", inner=Offer(price=3.0, title="bulb"))
    result = hallucinate(offer, random.Random(3), "inner.title", "socket")
    assert result is not None
    changed, corruption = result
    assert isinstance(changed, FrozenOffer)
    assert changed.inner.title == "socket"
    assert corruption == Corruption("inner.title", "bulb", "socket")
    assert offer.inner.title == "bulb"
    assert changed.price == 20.0


def test_hallucinate_keeps_mapping_subclass() -> None:
    original = OrderedDict([("price", 5.0), ("name", "x")])
    result = hallucinate(original, random.Random(0), "price", 6.0)
    assert result is not None
    assert type(result[0]) is OrderedDict
    assert result[0] == OrderedDict([("price", 6.0), ("name", "x")])


def test_hallucinate_defaultdict_result() -> None:
    original: defaultdict[str, Any] = defaultdict(list, {"price": 5.0})
    result = hallucinate(original, random.Random(0), "price", 6.0)
    assert result is not None
    assert result[0]["price"] == 6.0


# ------------------------------------------------------------------ truncate
def test_truncate_string() -> None:
    assert truncate("abcdefgh", 0.5) == ("abcd", Corruption("", "abcdefgh", "abcd"))
    assert truncate("abcdefghij", 0.25) == ("ab", Corruption("", "abcdefghij", "ab"))
    assert truncate("", 0.5) is None


def test_truncate_longest_text_field_of_dict() -> None:
    original = {"title": "short", "body": {"text": "a much longer text field"}, "n": 3}
    result = truncate(original, 0.5)
    assert result is not None
    changed, corruption = result
    assert corruption.path == "body.text"
    assert changed["body"]["text"] == "a much longe"  # 12 of 24 characters
    assert corruption.original == "a much longer text field"
    assert changed["title"] == "short"
    assert original["body"]["text"] == "a much longer text field"  # type: ignore[index]


def test_truncate_nothing_textual() -> None:
    assert truncate({"n": 1, "m": [1, 2]}, 0.5) is None
    assert truncate(42, 0.5) is None


# ------------------------------------------------------------------ wipe_memory
class WithWipe:
    def __init__(self) -> None:
        self.wiped = 0
        self.memory = {"kept": True}

    def wipe_memory(self) -> None:
        self.wiped += 1


class WithMemory:
    def __init__(self) -> None:
        self.memory = {"facts": [1, 2], "name": "x"}


class WithState:
    def __init__(self) -> None:
        self.state = ["a", "b"]


class Nothing:
    memory = None


def test_wipe_memory_prefers_method() -> None:
    agent = WithWipe()
    assert wipe_memory([agent]) == "WithWipe.wipe_memory()"
    assert agent.wiped == 1
    assert agent.memory == {"kept": True}


def test_wipe_memory_clears_memory_dict() -> None:
    agent = WithMemory()
    assert wipe_memory([agent]) == "WithMemory.memory"
    assert agent.memory == {}


def test_wipe_memory_clears_state_list() -> None:
    agent = WithState()
    assert wipe_memory([agent]) == "WithState.state"
    assert agent.state == []


def test_wipe_memory_nothing_to_wipe() -> None:
    assert wipe_memory([Nothing(), object(), 3]) is None
    assert wipe_memory([]) is None


def test_wipe_memory_first_candidate_with_memory_wins() -> None:
    first, second = WithMemory(), WithWipe()
    assert wipe_memory([Nothing(), first, second]) == "WithMemory.memory"
    assert first.memory == {}
    assert second.wiped == 0


# ------------------------------------------------------------------ carries
def test_carries_finds_field_corruption_in_nested_arguments() -> None:
    corruption = Corruption("offer.price", 10.0, 12.5)
    assert carries({"offer": {"price": 12.5}}, corruption)
    assert carries({"price": 12.5}, corruption)  # same field name, flattened
    assert carries({"order": {"lines": [{"price": 12.5}]}}, corruption)
    assert carries([{"x": 1}, {"offer": {"price": 12.5}}], corruption)
    assert carries(({"price": 12.5},), corruption)
    assert carries(Offer(price=12.5, title="t"), Corruption("price", 10.0, 12.5))
    assert carries({"wrap": Offer(price=12.5, title="t")}, Corruption("price", 10.0, 12.5))


def test_carries_rejects_clean_values() -> None:
    corruption = Corruption("offer.price", 10.0, 12.5)
    assert not carries({"offer": {"price": 10.0}}, corruption)
    assert not carries({"price": 10.0, "other": 3}, corruption)
    assert not carries([1, 2, "x"], corruption)
    assert not carries(None, corruption)


def test_carries_scalar_corruption() -> None:
    corruption = Corruption("", "the answer", "the wrong answer")
    assert carries("the wrong answer", corruption)
    assert carries(["a", ("the wrong answer",)], corruption)
    assert carries({"k": "the wrong answer"}, corruption)
    assert not carries("the answer", corruption)


def test_carries_depth_limit() -> None:
    corruption = Corruption("", 0, 7)
    deep: Any = 7
    for _ in range(10):
        deep = [deep]
    assert not carries(deep, corruption)
    assert carries([[[7]]], corruption)
