"""Markers shared by the integration's modules: who raised, and whether a graph call is
already being handled further up this context."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["FAILED_AT", "inside", "passing_through"]

#: Set on an exception raised by an instrumented node or router: which one raised it.
FAILED_AT = "__agentchaos_failed_at__"

#: Set while an instrumented graph call is running in this context: inner calls (``invoke``
#: calls ``stream``; a subgraph; a resume) pass straight through.
inside: ContextVar[bool] = ContextVar("agentchaos_graph_call", default=False)


@contextlib.contextmanager
def passing_through() -> Iterator[None]:
    token = inside.set(True)
    try:
        yield
    finally:
        inside.reset(token)
