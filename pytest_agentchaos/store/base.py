"""The event store's interface and its typed rows, whatever keeps them.

Like LangGraph's ``BaseCheckpointSaver``: the session writes and the report reads through
:class:`BaseEventStore` only, and every implementation passes the one contract suite in
``tests/store_contract.py``. Rows are frozen dataclasses, never ``dict[str, Any]``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from pytest_agentchaos.model.log import LogRecord
from pytest_agentchaos.model.outcomes import FaultResult


def iso_time(epoch_s: float) -> str:
    """Wall-clock seconds as ISO 8601 UTC with milliseconds, as the store keeps them."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One pytest session (shared by its xdist workers), as stored in ``sessions``."""

    session_id: str
    started_at: str
    ended_at: str | None  # None while it runs, and forever if it was killed
    seed: int
    args: tuple[str, ...]
    version: str
    exitstatus: int | None
    workers: int


@dataclass(frozen=True, slots=True)
class RunRow:
    """One test run (or repetition) as stored in ``runs``."""

    run_id: str
    session_id: str
    nodeid: str
    seed: int
    repetition: int
    condition: str
    outcome: str
    started_ns: int
    ended_ns: int
    duration_s: float
    worker: str
    strategies: str
    started_at: str = ""  # ISO 8601 UTC wall clock at the start; empty: when the row is written


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of a run's log, as the ``events`` table (or view) shows it."""

    run_id: str
    seq: int
    ts_ns: int
    agent: str
    kind: str
    fault_id: str | None
    payload: str | None  # JSON text, as stored

    @property
    def value(self) -> Any:
        """The payload decoded (``None`` when there is none)."""
        return None if self.payload is None else json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class TestEvent:
    """An event together with the test it happened in (for session-wide queries)."""

    __test__ = False  # not a pytest test class, whatever its name says

    nodeid: str
    event: EventRow


@dataclass
class WriteStats:
    """What this store's writes cost so far in this process (for benchmarks and docs)."""

    runs: int = 0
    events: int = 0
    lock_wait_ns: int = 0  # time spent waiting for the write lock (other writers)
    max_lock_wait_ns: int = 0
    write_ns: int = 0  # time of write_run, lock wait included


class BaseEventStore(ABC):
    """Where sessions, runs, events and fault firings are kept.

    Writers commit one finished run at a time with :meth:`write_run`, so a killed process keeps
    every run it finished. Readers filter by session; ``None`` means every session.
    """

    stats: WriteStats

    # --------------------------------------------------------------------- lifecycle
    @abstractmethod
    def migrate(self) -> list[str]:
        """Bring the schema up to date; returns the names of the migrations applied."""

    @abstractmethod
    def close(self) -> None:
        """Release the store; it is not used again."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------------- writing
    @abstractmethod
    def start_session(
        self, session_id: str, seed: int, args: Sequence[str], version: str, workers: int
    ) -> None:
        """Record that a session started (again, if the id exists: the row is replaced)."""

    @abstractmethod
    def end_session(self, session_id: str, exitstatus: int) -> None:
        """Record that a session ended with pytest's ``exitstatus``."""

    @abstractmethod
    def write_run(
        self, run: RunRow, events: Sequence[LogRecord], faults: Sequence[FaultResult]
    ) -> None:
        """Commit one finished run with its log (events and call records, in the order the
        run recorded them: :mod:`pytest_agentchaos.model.log`) and firings, all or nothing."""

    def flush(self) -> None:
        """Commit what this store buffers (nothing, unless it buffers writes); an error of a
        buffered write is raised here at the latest. Reads flush first."""
        return  # a store that commits each write at once has nothing to flush

    # ----------------------------------------------------------------------- reading
    @abstractmethod
    def sessions(self) -> list[SessionRow]:
        """Every session, oldest first."""

    def session(self, session_id: str) -> SessionRow | None:
        """The session ``session_id``, if the store has it."""
        return next((row for row in self.sessions() if row.session_id == session_id), None)

    @abstractmethod
    def latest_session(self) -> str | None:
        """The newest session that ran a chaos test (else the newest session)."""

    @abstractmethod
    def runs(self, session_id: str | None = None) -> list[RunRow]:
        """The runs of a session, by test id and repetition."""

    @abstractmethod
    def faults(self, session_id: str | None = None) -> list[FaultResult]:
        """The firings of a session, by run and injection time."""

    @abstractmethod
    def events(self, run_id: str) -> list[EventRow]:
        """The event log of one run, in order."""

    @abstractmethod
    def events_of_kind(self, kind: str, session_id: str | None = None) -> list[TestEvent]:
        """Every event of ``kind`` in a session, by test id and order."""

    @abstractmethod
    def integrity_problems(self) -> list[str]:
        """What is damaged in the stored data (empty when nothing is): read before reporting,
        since a damaged page that no report query touches would otherwise go unnoticed."""
