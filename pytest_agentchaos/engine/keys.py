"""Idempotency keys: exact, or refused.

A side-effecting agent runs at most once per key in a run, and a repeat gets the recorded
result, so two different calls must never share a key. A key is the agent's name and the
canonical form of the call's *bound* arguments (``f(x=1)`` and ``f(1)`` are one call, whether
the agent was declared with ``agent()`` or patched with ``wrap()``). The canonical form is
exact: equal values get equal keys and different values different keys (``1`` and ``"1"``,
``(1, 2)`` and ``[1, 2]``, ``{1: 'a'}`` and ``{'1': 'a'}`` differ). A value with no exact form
(an object whose only text is its ``repr()``, a numpy array) is refused with an error that
asks for ``key=``: a ``repr()`` can be equal for different values and would make the second
call silently get the first call's result.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import inspect
import json
import pathlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from pytest_agentchaos.errors import ChaosConfigError

__all__ = ["UnkeyableArgument", "call_key", "canonical_json", "effect_key", "sketch"]

#: Tags of non-JSON values start with NUL, which no plain dict key here may start with.
_TAG = "\x00"
_MAX_DEPTH = 64


class UnkeyableArgument(ChaosConfigError):
    """An argument of a side-effecting call has no exact canonical form: pass ``key=``."""


class _NoExactForm(Exception):
    def __init__(self, value: Any) -> None:
        super().__init__(f"{type(value).__module__}.{type(value).__qualname__}")


def _type_name(value: Any) -> str:
    return f"{_TAG}{type(value).__module__}.{type(value).__qualname__}"


def _exact(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON data that is equal exactly when the values are equal."""
    if depth > _MAX_DEPTH:
        raise _NoExactForm(value)
    deeper = depth + 1
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return {_type_name(value): _exact(value.value, deeper)}
    if isinstance(value, int | float):
        return value if type(value) in (int, float) else {_type_name(value): _scalar(value)}
    if isinstance(value, list):
        return [_exact(item, deeper) for item in value]
    if isinstance(value, tuple):
        return {f"{_TAG}tuple": [_exact(item, deeper) for item in value]}
    if isinstance(value, Mapping):
        return _exact_mapping(value, deeper)
    if isinstance(value, set | frozenset):
        items = sorted(_dumps(_exact(item, deeper)) for item in value)
        return {f"{_TAG}set": items}
    if isinstance(value, bytes | bytearray):
        return {f"{_TAG}bytes": bytes(value).hex()}
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        return {_type_name(value): _exact_mapping(fields, deeper)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return {_type_name(value): _exact_mapping(fields, deeper)}
    if isinstance(value, datetime.date | datetime.time):
        return {_type_name(value): value.isoformat()}
    if isinstance(value, decimal.Decimal | uuid.UUID | pathlib.PurePath):
        return {_type_name(value): str(value)}
    raise _NoExactForm(value)


def _exact_mapping(mapping: Mapping[Any, Any], depth: int) -> Any:
    if all(isinstance(k, str) and not k.startswith(_TAG) for k in mapping):
        return {k: _exact(v, depth) for k, v in mapping.items()}
    # Keys that are not plain strings (ints, tuples, ...) keep their type: a list of pairs.
    pairs = [[_exact(k, depth), _exact(v, depth)] for k, v in mapping.items()]
    return {f"{_TAG}dict": sorted(pairs, key=_dumps)}


def _scalar(value: int | float) -> int | float:
    # An int or float subclass: its plain value, under its type's tag.
    return int(value) if isinstance(value, int) else float(value)


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    """The exact canonical JSON of ``value``; raises ``TypeError`` when it has none."""
    try:
        return _dumps(_exact(value))
    except _NoExactForm as error:
        raise TypeError(f"no exact canonical form for a {error}") from None


@functools.lru_cache(maxsize=1024)
def _signature(fn: Callable[..., Any], bound_method: bool) -> inspect.Signature | None:
    try:
        signature = inspect.signature(fn, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    if bound_method:  # keyed by the function, so no instance is kept alive: drop `self`
        return signature.replace(parameters=list(signature.parameters.values())[1:])
    return signature


def _bound(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The call's arguments by parameter name, defaults applied; raw when ``fn`` is opaque."""
    method = inspect.ismethod(fn)
    try:
        signature = _signature(fn.__func__ if method else fn, method)  # type: ignore[attr-defined]
    except TypeError:  # an unhashable callable object
        signature = None
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError:
            pass  # the call itself will fail the same way; key it as it was made
        else:
            bound.apply_defaults()
            return dict(bound.arguments)
    return {f"{_TAG}args": list(args), f"{_TAG}kwargs": dict(kwargs)}


_SCALARS = (str, int, float, bool)


def sketch(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> frozenset[Any]:
    """The plain values among a call's arguments (and one level inside them), cheaply.

    Equal calls made the same way have equal sketches, so a call whose sketch differs from a
    remembered question's is another question, without computing its exact key (binding and
    encoding the arguments costs far more than a call).
    """
    found: set[Any] = set()
    for value in (*args, *kwargs.values()):
        if type(value) in _SCALARS:
            found.add(value)
        elif isinstance(value, Mapping):
            found.update(v for v in value.values() if type(v) in _SCALARS)
        elif isinstance(value, list | tuple):
            found.update(v for v in value if type(v) in _SCALARS)
    return frozenset(found)


def call_key(
    name: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> str | None:
    """The exact key of one call of ``name``, or ``None`` when an argument has no exact form."""
    try:
        return f"{name}:{_dumps(_exact(_bound(fn, args, kwargs)))}"
    except _NoExactForm:
        return None


def effect_key(
    name: str,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    key: str | Callable[..., str] | None,
) -> str:
    """The idempotency key of one side-effecting call, scoped to its agent.

    ``key`` is the agent's ``key=``: a fixed string or a function of the call's arguments.
    """
    if isinstance(key, str):
        return f"{name}:{key}"
    if key is not None:
        return f"{name}:{key(*args, **kwargs)}"
    try:
        return f"{name}:{_dumps(_exact(_bound(fn, args, kwargs)))}"
    except _NoExactForm as error:
        raise UnkeyableArgument(
            f"agent {name!r} has side_effect=True, but an argument of this call (a {error}) has "
            "no exact canonical form for its idempotency key (a repr() could be equal for "
            "different values); pass key= to agent() or wrap(): a string, or a function of the "
            "call's arguments returning one"
        ) from None
