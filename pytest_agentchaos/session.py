"""One pytest process's chaos session: settings, seed, store and the runs it starts.

Kept apart from plugin.py so the hooks stay thin and this logic stays free of pytest.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_agentchaos.config.settings import RunSettings, SessionSettings, resolve_run_settings
from pytest_agentchaos.engine.injection import activate
from pytest_agentchaos.engine.recovery import ReadOnlyStore
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.model.faults import FaultSpec
from pytest_agentchaos.model.outcomes import FaultResult
from pytest_agentchaos.model.schedule import derive_seed
from pytest_agentchaos.report.build import Report, build_report
from pytest_agentchaos.store.base import RunRow, iso_time
from pytest_agentchaos.store.sqlite import EventStore
from pytest_agentchaos.strategies.registry import StrategyRegistry


class ChaosSession:
    """State shared by every test of one process (the controller or one xdist worker)."""

    def __init__(
        self, settings: SessionSettings, *, session_id: str, seed: int, worker: str
    ) -> None:
        self.settings = settings
        self.session_id = session_id
        self.seed = seed
        self.worker = worker
        self.registry = StrategyRegistry()
        self._store: EventStore | None = None
        self.report: Report | None = None
        self.gate_failures: list[str] = []
        # What every test without chaos_settings or agentchaos_config runs with: resolved once.
        self._plain_run_settings: RunSettings | None = None
        # A view, the same for every run: the store opens on first read.
        self._read_only_store = ReadOnlyStore(lambda: self.store)

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    @property
    def store(self) -> EventStore:
        if self._store is None:
            self._store = EventStore(self.settings.db, buffered=True)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def start_run(
        self,
        nodeid: str,
        repetition: int,
        faults: Sequence[FaultSpec],
        marker_settings: Mapping[str, Any],
        fixture_settings: Mapping[str, Any],
    ) -> ChaosRun:
        run_settings = self._run_settings(marker_settings, fixture_settings)
        run = ChaosRun(
            # 48 random bits, as uuid4().hex[:12] had, at a fifth of its cost.
            run_id=f"{self.session_id}-{os.urandom(6).hex()}",
            nodeid=nodeid,
            seed=derive_seed(self.seed, nodeid, repetition),
            repetition=repetition,
            settings=run_settings,
            faults=faults,
            recover=self.registry.recover,
            store=self._read_only_store,
        )
        activate(run)
        return run

    def _run_settings(
        self, marker_settings: Mapping[str, Any], fixture_settings: Mapping[str, Any]
    ) -> RunSettings:
        """The run's settings, their strategies checked against the registry."""
        if marker_settings or fixture_settings:
            settings = resolve_run_settings(self.settings, marker_settings, fixture_settings)
        else:
            if self._plain_run_settings is None:
                self._plain_run_settings = resolve_run_settings(self.settings, {}, {})
            settings = self._plain_run_settings
        self.registry.validate(settings.strategies)
        return settings

    def finish_run(self, run: ChaosRun, outcome: str, started_wall: float) -> list[FaultResult]:
        """End ``run`` and commit it with its events and firings, in one transaction.

        Afterwards ``run.log`` is empty: read a finished run's events from the store.
        """
        activate(None)
        results = run.finish(test_failed=outcome in ("failed", "error"))
        ended = run.ended_ns or time.monotonic_ns()
        row = RunRow(
            run_id=run.run_id,
            session_id=self.session_id,
            nodeid=run.nodeid,
            seed=run.seed,
            repetition=run.repetition,
            condition="chaos",
            outcome=outcome,
            started_ns=run.started_ns,
            started_at=iso_time(started_wall),
            ended_ns=ended,
            duration_s=time.time() - started_wall,
            worker=self.worker,
            strategies=",".join(run.settings.strategies) or "none",
        )
        self.store.write_run(row, run.log, results)
        self.registry.run_finished(run, results)
        # The store holds the log now. Whatever still references the run (pytest's item stash,
        # a reference cycle the collector frees late) must not keep every test's log alive.
        run.log.clear()
        return results

    def build_report(self) -> Report:
        # A worker that died (xdist restarts it) left the runs it finished in its journal.
        self.store.import_leftovers()
        self.report = build_report(
            self.store, self.session_id, self.seed, self.settings.extra_reproduce_args
        )
        return self.report

    def check_gates(self, report: Report) -> list[str]:
        """The gates this session missed, each saying which and by how much."""
        missed = []
        totals = report.totals
        floor = self.settings.min_recovery_rate
        if floor is not None:
            if totals.injected == 0:
                missed.append(
                    f"--chaos-min-recovery-rate={floor:g}: no fault fired, so the "
                    "recovery rate cannot be checked"
                )
            elif totals.recovery_rate is not None and totals.recovery_rate < floor:
                short = (floor - totals.recovery_rate) * 100
                missed.append(
                    f"--chaos-min-recovery-rate={floor:g}: recovery rate was "
                    f"{totals.recovery_rate:.3f}, {short:.1f} points short"
                )
        ceiling = self.settings.max_mttr_s
        worst = totals.mttr_s.get("p95")
        if ceiling is not None and worst is not None and worst > ceiling:
            missed.append(
                f"--chaos-max-mttr={ceiling:g}: MTTR p95 was {worst:.3f} s, "
                f"{worst - ceiling:.3f} s over"
            )
        self.gate_failures = missed
        return missed


def worker_name() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")
