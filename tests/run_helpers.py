"""Builders for driving a ChaosRun directly in unit tests (no pytest plugin involved)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import parse_fault


def make_run(*faults: tuple[str, dict[str, Any]], run_id: str = "run-1", **kwargs: Any) -> ChaosRun:
    """A run of ``tests/test_x.py::test_y`` with seed 1234 and these ``(kind, arguments)``."""
    return ChaosRun(
        run_id=run_id,
        nodeid="tests/test_x.py::test_y",
        seed=1234,
        faults=[parse_fault(kind, arguments) for kind, arguments in faults],
        **kwargs,
    )


@contextmanager
def active(run: ChaosRun) -> Iterator[ChaosRun]:
    """``run`` is the active run inside the block; the previous one after it."""
    previous = activate(run)
    try:
        yield run
    finally:
        activate(previous)
