"""``chaos_langgraph = auto``: every graph compiled during a chaos run is instrumented."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.integrations.langgraph.instrument import instrument

__all__ = ["instrument_compiled_graphs"]


def instrument_compiled_graphs() -> Callable[[], None]:
    """Patch ``StateGraph.compile`` so graphs compiled in a chaos run come out instrumented.

    Returns the function that removes the patch. Outside a chaos run ``compile`` is unchanged.
    """
    from langgraph.graph.state import StateGraph

    original = StateGraph.compile

    @functools.wraps(original)
    def compile_instrumented(self: Any, *args: Any, **kwargs: Any) -> Any:
        compiled = original(self, *args, **kwargs)
        if current_run() is not None:
            instrument(compiled)
        return compiled

    StateGraph.compile = compile_instrumented  # type: ignore[method-assign]

    def undo() -> None:
        StateGraph.compile = original  # type: ignore[method-assign]

    return undo
