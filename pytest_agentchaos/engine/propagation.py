"""Which corrupted values a call's arguments carry, at a cost that does not grow with the run.

Corruptions are indexed by their replacement value. A call walks its arguments once (to the
depth :func:`~pytest_agentchaos.model.corruption.carries` looks) and looks each value up, so
its cost depends on the size of its arguments, not on how many corruptions the run has seen
(scanning every corruption on every call made long runs quadratic). A hit is confirmed with
``carries`` itself, so what counts as carrying a value is defined in one place.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from pytest_agentchaos.model.corruption import carries
from pytest_agentchaos.model.records import Firing

__all__ = ["CorruptionIndex"]

#: How deep ``carries`` follows nested arguments; a dotted path may lead deeper still.
CARRIES_DEPTH = 4


class CorruptionIndex:
    """The corrupted values handed on in a run, by replacement value."""

    def __init__(self) -> None:
        self._by_value: dict[Hashable, list[Firing]] = {}
        self._order: dict[str, int] = {}
        self._depth = CARRIES_DEPTH
        # The shapes of the replacements that are lists, tuples, dicts or models: a container
        # argument of another shape cannot equal one, so it is not frozen to be looked up.
        self._shapes: set[tuple[object, int]] = set()

    def __len__(self) -> int:
        return len(self._order)

    def add(self, firing: Firing) -> None:
        corruption = firing.corruption
        assert corruption is not None
        self._order[firing.fault_id] = len(self._order)
        replacement = corruption.replacement
        children = _children(replacement)
        if children is not None:
            self._shapes.add(_shape(replacement, children))
        self._by_value.setdefault(_frozen(replacement), []).append(firing)
        if corruption.path:
            self._depth = max(self._depth, CARRIES_DEPTH + corruption.path.count(".") + 1)

    def carried(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> list[Firing]:
        """The firings whose corrupted value these arguments carry, in firing order."""
        found: dict[str, Firing] = {}
        for value in (*args, *kwargs.values()):
            for node in _nodes(value, self._depth, self._shapes):
                for firing in self._by_value.get(node, ()):
                    corruption = firing.corruption
                    if firing.fault_id in found or corruption is None:
                        continue
                    if carries(value, corruption):
                        found[firing.fault_id] = firing
        return sorted(found.values(), key=lambda firing: self._order[firing.fault_id])


def _children(value: Any) -> list[Any] | None:
    if isinstance(value, BaseModel):
        return [getattr(value, name) for name in type(value).model_fields]
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    return None


def _shape(value: Any, children: list[Any]) -> tuple[object, int]:
    """What a container must share with another to be equal to it, cheap to compute."""
    if isinstance(value, BaseModel):
        return type(value), len(children)
    return ("map" if isinstance(value, Mapping) else "sequence"), len(children)


def _nodes(value: Any, depth: int, shapes: set[tuple[object, int]]) -> Iterator[Hashable]:
    """Every value nested in ``value`` down to ``depth``, as a dictionary key (a container
    only when some corrupted value is a container of its shape)."""
    children = _children(value)
    if children is None or isinstance(value, tuple):
        try:
            hash(value)
        except TypeError:
            pass
        else:
            yield value
    elif shapes and _shape(value, children) in shapes:
        yield _frozen(value)
    if children is not None and depth > 0:
        for child in children:
            yield from _nodes(child, depth - 1, shapes)


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for ``value`` that is equal for equal values."""
    if isinstance(value, BaseModel):
        return (type(value), _frozen(value.model_dump()))
    if isinstance(value, Mapping):
        return frozenset((_frozen(k), _frozen(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    try:
        hash(value)
    except TypeError:
        return ("unhashable", id(value))
    return value  # type: ignore[no-any-return]
