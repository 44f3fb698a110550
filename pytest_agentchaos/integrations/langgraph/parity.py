"""Parity: a thread that was crashed and resumed must end where the fault-free run ends.

The fault-free reference runs on a fresh thread of the same graph and checkpointer with chaos
suspended, so it is the same with or without ``--chaos``. Its side effects happen too: point
side-effecting nodes at a test double.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.integrations.langgraph.context import passing_through

__all__ = ["assert_parity", "first_difference", "reference_state"]

_ABSENT = object()


def first_difference(actual: Any, expected: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first dotted path where ``actual`` and ``expected`` differ, with both values."""
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        keys = [*expected, *(k for k in actual if k not in expected)]
        for key in keys:
            found = first_difference(
                actual.get(key, _ABSENT), expected.get(key, _ABSENT), f"{path}{key}."
            )
            if found is not None:
                return found
        return None
    if actual == expected:
        return None
    return path.rstrip("."), actual, expected


def _thread(config: Any) -> str:
    return str(((config or {}).get("configurable") or {}).get("thread_id", ""))


def reference_state(graph: Any, input: Any, config: Any) -> Any:
    """The final state of a fault-free run of ``input`` on a fresh thread (chaos suspended)."""
    configurable = dict((config or {}).get("configurable") or {})
    configurable["thread_id"] = f"{_thread(config)}:reference:{uuid.uuid4().hex[:8]}"
    fresh = {**(config or {}), "configurable": configurable}
    previous = activate(None)
    try:
        with passing_through():
            return graph.invoke(input, fresh)
    finally:
        activate(previous)


def _show(value: Any) -> str:
    return "(missing)" if value is _ABSENT else repr(value)


def assert_parity(graph: Any, input: Any, config: Any, *, reproduce: str = "") -> None:
    """The thread of ``config`` ended in the state of the fault-free run of ``input``.

    Fails naming the first differing state key (a dotted path into nested values); a thread
    that ended differently with no error left is called ``silent``.
    """
    expected = reference_state(graph, input, config)
    snapshot = graph.get_state(config)
    difference = first_difference(snapshot.values, expected)
    if difference is None:
        return
    path, got, want = difference
    failed = snapshot.next or any(task.error for task in snapshot.tasks)
    verdict = "it stopped at a failure" if failed else "silent: it ended with no error"
    hint = f"\nreproduce: {reproduce}" if reproduce else ""
    raise AssertionError(
        f"chaos: thread {_thread(config)!r} differs from the fault-free run at {path!r}: "
        f"{_show(got)} != {_show(want)} (fault-free); {verdict}{hint}"
    )
