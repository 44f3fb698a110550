"""Which run a thread belongs to, so a thread left running by one test stays out of the next.

A thread started while a chaos run is active belongs to that run. When the run has ended and
the next test's run is active, that thread's agent calls do not enter the new run: they run as
plain calls, recorded nowhere (the run that started the thread is closed, and records nothing
more). Threads started outside any run (the main thread, xdist's, a session's pools) and the
workers of ``concurrent.futures`` pools (they run whatever work they are handed, for whichever
test is running) are not bound to a run.

``threading.Thread.start`` is wrapped once, by the first chaos run of the process; a process
that never runs chaos never has it wrapped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["bind_new_threads", "owners"]

#: Thread ident -> the run active when the thread was started (only for such threads).
owners: dict[int, object] = {}

_current: list[object | None] = [None]  # the active run, as the start wrapper sees it
_installed: list[bool] = [False]


def bind_new_threads(run: object | None) -> None:
    """Threads started from now on belong to ``run`` (``None``: to no run)."""
    _current[0] = run
    if run is not None and not _installed[0]:
        _installed[0] = True
        _wrap_start()


def _is_pool_worker(thread: threading.Thread) -> bool:
    target: Any = getattr(thread, "_target", None)
    return getattr(target, "__module__", "") == "concurrent.futures.thread"


def _wrap_start() -> None:
    original_start = threading.Thread.start

    def start(self: threading.Thread) -> None:
        run = _current[0]
        if run is not None and not _is_pool_worker(self):
            # On the instance, so a subclass's own run() is bound too.
            self.run = _bound_to(run, self.run)  # type: ignore[method-assign]
        original_start(self)

    threading.Thread.start = start  # type: ignore[method-assign]


def _bound_to(run: object, body: Callable[[], None]) -> Callable[[], None]:
    def run_bound() -> None:
        ident = threading.get_ident()
        owners[ident] = run
        try:
            body()
        finally:
            owners.pop(ident, None)

    return run_bound
