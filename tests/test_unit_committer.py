"""The store's commit thread: tasks run in order, a failed task keeps its journal and its
error reaches the caller, a forked child never waits for a thread it does not have."""

from __future__ import annotations

import functools
import os
import threading

import pytest

from pytest_agentchaos.store.committer import Committer


class FakeJournal:
    """Records how the committer let go of it."""

    def __init__(self) -> None:
        self.closed_with: list[bool] = []

    def close(self, *, keep: bool = False) -> None:
        self.closed_with.append(keep)


def test_tasks_run_in_order_on_another_thread_and_their_journals_go() -> None:
    committer = Committer()
    ran: list[tuple[int, str]] = []
    release = threading.Event()

    def task(n: int) -> None:
        release.wait(5)
        ran.append((n, threading.current_thread().name))

    journals = [FakeJournal() for _ in range(3)]
    for n, journal in enumerate(journals):
        committer.submit(functools.partial(task, n), journal)
    assert ran == []  # submitting does not wait
    release.set()
    committer.wait()
    assert [n for n, _ in ran] == [0, 1, 2]
    assert {name for _, name in ran} == {"agentchaos-store"}
    assert [j.closed_with for j in journals] == [[False], [False], [False]]
    committer.close()


def test_a_failed_task_keeps_its_journal_and_the_next_wait_raises() -> None:
    committer = Committer()
    failing, fine = FakeJournal(), FakeJournal()

    def fail() -> None:
        raise OSError("disk full")

    committer.submit(fail, failing)
    committer.submit(lambda: None, fine)
    with pytest.raises(OSError, match="disk full"):
        committer.wait()
    assert failing.closed_with == [True]  # kept for the next open of the store to import
    assert fine.closed_with == [False]  # later tasks still ran
    committer.wait()  # raised once
    committer.close()


def test_a_refusal_is_reported_and_its_journal_goes() -> None:
    committer = Committer()
    journal = FakeJournal()
    committer.submit(lambda: ValueError("run r1 refused"), journal)
    with pytest.raises(ValueError, match="r1 refused"):
        committer.close()
    assert journal.closed_with == [False]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_does_not_wait_for_the_parents_thread() -> None:
    committer = Committer()
    committer.submit(lambda: None)
    committer.wait()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no committer thread here
        committer._busy = True  # as if the fork came in the middle of a task
        committer.submit(lambda: None)
        committer.wait()
        committer.close()
        os.write(write, b"ok")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 2) == b"ok"
    assert os.waitstatus_to_exitcode(status) == 0
    committer.close()
