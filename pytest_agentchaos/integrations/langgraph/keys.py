"""A graph node's idempotency key: its thread, its name and the state it was called with.

Never the run config: LangGraph gives a resumed run new checkpoint ids, so a key built from the
config would let a resumed side effect happen again.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pytest_agentchaos.errors import ChaosConfigError

__all__ = ["canonical_state", "node_key", "thread_of_current_node"]


def thread_of_current_node() -> str:
    """The thread id of the graph run that is calling the current node ("-" if none)."""
    from langgraph.config import get_config

    try:
        configurable = get_config().get("configurable", {})
    except RuntimeError:  # called outside a graph run
        return "-"
    return str(configurable.get("thread_id", "-"))


def node_key(state: Any, *args: Any, **kwargs: Any) -> str:
    """The key of one call of a side-effecting node (the engine prefixes the node's name)."""
    return f"{thread_of_current_node()}:{canonical_state(state)}"


def canonical_state(state: Any) -> str:
    """Stable JSON of a graph state: sorted keys; pydantic models and dataclasses as data."""
    try:
        return json.dumps(state, sort_keys=True, separators=(",", ":"), default=_as_data)
    except TypeError as error:
        raise ChaosConfigError(
            f"a side-effecting node's state has no exact canonical form ({error}); declare the "
            "node's function with agent(name, side_effect=True, key=...) instead"
        ) from None


def _as_data(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):  # pydantic models, LangChain messages
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=canonical_state)
    raise TypeError(f"{type(value).__name__} is not JSON data")
