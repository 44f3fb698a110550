"""What corrupting faults do to values: plausible wrong values, truncation, wiped memory.

A hallucinated value keeps the type of the value it replaces, so it passes type checks and only
a check of its meaning can catch it, as with a real model that is confidently wrong.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

_MISSING = object()


@dataclass(frozen=True)
class Corruption:
    """A value corrupted at ``path`` (dotted; empty for the whole value)."""

    path: str
    original: Any
    replacement: Any


def plausible_wrong(value: Any, rng: random.Random, siblings: list[Any]) -> Any:
    """A wrong value of the same type as ``value``, close enough to be believed."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        step = max(1, round(abs(value) * rng.uniform(0.1, 0.5)))
        return value + step if rng.random() < 0.5 else value - step
    if isinstance(value, float):
        return _wrong_float(value, rng)
    if isinstance(value, str):
        others = sorted({s for s in siblings if isinstance(s, str) and s and s != value})
        if others:
            return rng.choice(others)
        words = value.split()
        changed = " ".join(words[1:] + words[:1]) if len(words) > 1 else value[::-1]
        # Palindromes and repeated words survive a rotation unchanged.
        return changed if changed != value else value + " (revised)"
    if isinstance(value, list) and value:
        return value[:-1] if len(value) > 1 else [*value, value[0]]
    return _MISSING


def _wrong_float(value: float, rng: random.Random) -> float:
    if value == 0.0:
        return round(rng.uniform(1.0, 10.0), 2)
    factor = rng.uniform(0.1, 0.5) * (1 if rng.random() < 0.5 else -1)
    wrong = value * (1 + factor)
    if round(value, 2) == value:  # a price-like value stays price-like
        wrong = round(wrong, 2)
        if wrong == value:  # too small to move at two decimals
            wrong = round(value + (0.01 if factor > 0 else -0.01), 2)
    return wrong


def _leaves(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Dotted paths of the scalar and list leaves of a dict or pydantic model, sorted."""
    mapping = _as_mapping(value)
    if mapping is None:
        return []
    found: list[tuple[str, Any]] = []
    for key in sorted(mapping, key=str):
        item = mapping[key]
        path = f"{prefix}{key}"
        if _as_mapping(item) is not None:
            found.extend(_leaves(item, path + "."))
        elif item is not None:
            found.append((path, item))
    return found


def _as_mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, BaseModel):
        return {name: getattr(value, name) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return value
    return None


def _get(value: Any, path: str) -> Any:
    for part in path.split("."):
        mapping = _as_mapping(value)
        if mapping is None or part not in mapping:
            return _MISSING
        value = mapping[part]
    return value


def _replace(value: Any, path: str, new: Any) -> Any:
    """A copy of ``value`` with ``path`` set to ``new``; the original is left untouched."""
    head, _, rest = path.partition(".")
    current = _as_mapping(value)
    assert current is not None
    child = _replace(current[head], rest, new) if rest else new
    if isinstance(value, BaseModel):
        # model_copy skips validation on purpose: the model produced this value itself.
        return value.model_copy(update={head: child})
    copied = copy.copy(value)  # keeps the mapping's own type (defaultdict, OrderedDict ...)
    copied[head] = child
    return copied


def hallucinate(
    result: Any, rng: random.Random, field: str | None, value: Any
) -> tuple[Any, Corruption] | None:
    """Replace one field of ``result`` with a plausible wrong value; ``None`` if impossible."""
    if isinstance(result, str | int | float) and field is None:
        wrong = value if value is not None else plausible_wrong(result, rng, [])
        return (wrong, Corruption("", result, wrong)) if wrong is not _MISSING else None
    leaves = _leaves(result)
    if not leaves:
        return None
    if field is None:
        path, original = rng.choice(leaves)
    else:
        path, original = field, _get(result, field)
        if original is _MISSING:
            return None
    siblings = [leaf for _, leaf in leaves]
    wrong = value if value is not None else plausible_wrong(original, rng, siblings)
    if wrong is _MISSING or wrong == original:
        return None
    return _replace(result, path, wrong), Corruption(path, original, wrong)


def truncate(result: Any, keep: float) -> tuple[Any, Corruption] | None:
    """Cut the longest text in ``result`` to ``keep`` of its length, as a token limit would."""
    if isinstance(result, str):
        cut = result[: int(len(result) * keep)]
        return (cut, Corruption("", result, cut)) if cut != result else None
    texts = [(path, leaf) for path, leaf in _leaves(result) if isinstance(leaf, str) and leaf]
    if not texts:
        return None
    path, text = max(texts, key=lambda item: len(item[1]))
    cut = text[: int(len(text) * keep)]
    return _replace(result, path, cut), Corruption(path, text, cut)


def wipe_memory(candidates: list[Any]) -> str | None:
    """Clear the memory of the first candidate that exposes some; returns what was wiped.

    An agent exposes memory by a ``wipe_memory()`` method, or a ``memory`` or ``state``
    attribute with ``clear()``.
    """
    for candidate in candidates:
        wiper = getattr(candidate, "wipe_memory", None)
        if callable(wiper):
            wiper()
            return f"{type(candidate).__name__}.wipe_memory()"
        for attribute in ("memory", "state"):
            store = getattr(candidate, attribute, None)
            if store is not None and callable(getattr(store, "clear", None)):
                store.clear()
                return f"{type(candidate).__name__}.{attribute}"
    return None


def carries(value: Any, corruption: Corruption, depth: int = 4) -> bool:
    """Whether ``value`` (an argument of a later call) holds the corrupted value."""
    if depth < 0:
        return False
    if corruption.path and _as_mapping(value) is not None:
        if _get(value, corruption.path) == corruption.replacement:
            return True
        last = corruption.path.rsplit(".", 1)[-1]
        mapping = _as_mapping(value)
        assert mapping is not None
        if mapping.get(last, _MISSING) == corruption.replacement:
            return True
        return any(carries(item, corruption, depth - 1) for item in mapping.values())
    if isinstance(value, list | tuple):
        return any(carries(item, corruption, depth - 1) for item in value)
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        # A corrupted field is often handed on alone (write_copy(offer["price"])).
        return bool(value == corruption.replacement)
    mapping = _as_mapping(value)
    return mapping is not None and any(carries(v, corruption, depth - 1) for v in mapping.values())
