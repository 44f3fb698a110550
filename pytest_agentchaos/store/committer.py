"""Commits a buffered store's journalled runs on a thread of its own, off the tests' path.

A test pays for journalling its run (one ``write()``); committing runs to SQLite, and the
checkpoint that copies them into the database file at the end, happen here while the next
tests run, on a second core when there is one. Each batch of runs arrives with the journal that
holds it, and that journal is removed only once the batch is committed: a kill at any moment
leaves every finished run in a journal or in SQLite (the next open imports journals, skipping
runs already stored).

The work must hold the GIL as little as possible: a thread that gives the GIL up (SQLite does,
for every statement) waits up to ``sys.getswitchinterval()`` (5 ms) to get it back while the
tests keep running Python. So a batch is a handful of statements over JSON
(:mod:`.bulk`), never a statement per row: row by row, a batch of a thousand runs took seconds.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["Committer", "Task"]

#: One piece of work: returns an error to report that left nothing to keep (a run the store
#: refused), or raises when its journal must stay for the next open to import.
Task = Callable[[], Exception | None]


class _Journal(Protocol):
    def close(self, *, keep: bool = False) -> None: ...


class Committer:
    """A thread that runs tasks in the order they were submitted, each with its journal."""

    def __init__(self, name: str = "agentchaos-store") -> None:
        self._tasks: deque[tuple[Task, _Journal | None]] = deque()
        self._busy = False
        self._stopping = False
        self._error: Exception | None = None
        # A forked child inherits this object but not its thread: there it does nothing (the
        # parent commits its own runs), rather than wait forever for a thread that is not there.
        self._pid = os.getpid()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, task: Task, journal: _Journal | None = None) -> None:
        """Run ``task`` after everything submitted before it; remove ``journal`` (the file
        that holds what the task commits) once it succeeded."""
        if os.getpid() != self._pid:
            return
        with self._changed:
            if self._stopping:
                raise RuntimeError("the committer is closed")
            self._tasks.append((task, journal))
            self._changed.notify_all()

    def wait(self) -> None:
        """Block until every submitted task ran; raise the first error since the last wait."""
        if os.getpid() != self._pid:
            return
        with self._changed:
            while self._tasks or self._busy:
                self._changed.wait()
            error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self) -> None:
        """Run what is left, stop the thread, and raise the first error not raised yet."""
        if os.getpid() != self._pid:
            return
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._tasks and not self._stopping:
                    self._changed.wait()
                if not self._tasks:
                    return
                task, journal = self._tasks.popleft()
                self._busy = True
            error = self._run(task, journal)
            with self._changed:
                self._busy = False
                if error is not None and self._error is None:
                    self._error = error
                self._changed.notify_all()

    @staticmethod
    def _run(task: Task, journal: _Journal | None) -> Exception | None:
        try:
            refused = task()
        except Exception as error:  # kept for the caller's next wait; the journal stays
            if journal is not None:
                journal.close(keep=True)
            return error
        if journal is not None:
            journal.close()
        return refused
