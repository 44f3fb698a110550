"""``crash_sweep``: SIGKILL a graph at every node, before and after its effect, per durability
mode, and resume it in a fresh process from the same checkpointer.

Each point runs two real child processes on its own SQLite file: the first is killed at the
point (``SIGKILL`` from inside the node, so the point is exact), the second resumes the thread
with :func:`recover_and_resume`. A ledger that outlives both counts each node's executions and
each side effect. A point is durable only if the kill happened, the resume reached the
fault-free final state, and no side effect happened twice; a point the input never reaches, a
child that failed or a mode that saved nothing is never durable (the input is never re-fed,
which would hide a lost checkpoint).
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_agentchaos.engine.injection import current_run
from pytest_agentchaos.errors import ChaosConfigError
from pytest_agentchaos.integrations.langgraph.probes import read_ledger
from pytest_agentchaos.integrations.langgraph.sweep_child import Job, run_job

__all__ = ["SweepPoint", "SweepResult", "assert_durable", "crash_sweep"]

DURABILITY_MODES = ("sync", "async", "exit")
WHEN = ("before", "after")
NOT_REACHED = "not reached"


@dataclass(frozen=True)
class SweepPoint:
    """One kill point: where, in which durability mode, and what the resume made of it."""

    node: str
    when: str
    durability: str
    reached: bool
    resumed: tuple[str, ...]
    final_equal: bool
    ran_twice: tuple[str, ...]
    duplicated_effects: int
    error: str | None

    @property
    def durable(self) -> bool:
        return (
            self.reached
            and self.error is None
            and bool(self.resumed)
            and self.final_equal
            and self.duplicated_effects == 0
        )

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return NOT_REACHED if self.error.startswith(NOT_REACHED) else "error"
        return "durable" if self.durable else "NOT durable"


@dataclass(frozen=True)
class SweepResult:
    points: tuple[SweepPoint, ...]
    reference: Any

    def durable(self, durability: str = "sync") -> bool:
        chosen = [p for p in self.points if p.durability == durability]
        return bool(chosen) and all(p.durable or p.verdict == NOT_REACHED for p in chosen)

    def table(self) -> str:
        from tabulate import tabulate

        rows = [
            [
                p.durability,
                p.node,
                p.when,
                p.verdict,
                ", ".join(p.resumed) or "-",
                "yes" if p.final_equal else "no",
                ", ".join(p.ran_twice) or "-",
                p.duplicated_effects,
                p.error or "",
            ]
            for p in self.points
        ]
        headers = ["durability", "node", "kill", "verdict", "resumed", "final equal"]
        return tabulate(rows, [*headers, "ran twice", "dup. effects", "error"])


def _check(durability: Iterable[str], when: Iterable[str]) -> tuple[tuple[str, ...], ...]:
    modes, whens = tuple(durability), tuple(when)
    for value, allowed, name in ((modes, DURABILITY_MODES, "durability"), (whens, WHEN, "when")):
        bad = [v for v in value if v not in allowed]
        if bad or not value:
            raise ChaosConfigError(
                f"crash_sweep {name}={value!r}: each must be one of {', '.join(allowed)}"
            )
    return modes, whens


class _Children:
    """Starts sweep children and waits for them, with a timeout."""

    def __init__(self, start_method: str, timeout: float) -> None:
        self.context = multiprocessing.get_context(start_method)
        self.timeout = timeout

    def run(self, job: Job) -> tuple[int | None, dict[str, Any] | None, str | None]:
        """The child's exit code, what it wrote, and why it could not be used (or None)."""
        try:
            child = self.context.Process(target=run_job, args=(job,), daemon=True)  # type: ignore[attr-defined]
            child.start()
        except Exception as error:
            return None, None, f"child could not start: {type(error).__name__}: {error}"
        child.join(self.timeout)
        if child.is_alive():
            child.kill()
            child.join()
            return None, None, f"child timed out after {self.timeout:g} s"
        written = pickle.loads(job.result.read_bytes()) if job.result.exists() else None
        return child.exitcode, written, None


def crash_sweep(
    make_graph: Callable[[str], Any],
    input: Any,
    *,
    durability: Sequence[str] = DURABILITY_MODES,
    when: Sequence[str] = WHEN,
    nodes: Sequence[str] | None = None,
    config: dict[str, Any] | None = None,
    workdir: str | Path | None = None,
    start_method: str = "fork",
    timeout: float = 60.0,
) -> SweepResult:
    """Kill ``make_graph(db_path)``'s graph at every node (before/after) per durability mode.

    ``make_graph`` returns the (instrumented) compiled graph on a SQLite checkpointer at
    ``db_path``; each point gets a fresh path. ``nodes`` limits the sweep to some nodes.
    """
    modes, whens = _check(durability, when)
    config = config or {"configurable": {"thread_id": "crash-sweep"}}
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="agentchaos-sweep-"))
    children = _Children(start_method, timeout)
    reference = _reference(children, make_graph, input, config, root)
    swept = list(nodes) if nodes is not None else reference["nodes"]
    unknown = sorted(set(swept) - set(reference["all_nodes"]))
    if unknown:
        raise ChaosConfigError(
            f"crash_sweep(nodes=...) names {', '.join(map(repr, unknown))}, not a node of the "
            f"graph; its nodes: {', '.join(reference['all_nodes'])}"
        )
    points = []
    for mode in modes:
        for node in swept:
            for moment in whens:
                directory = root / f"{mode}-{node.replace('/', '.')}-{moment}"
                job = Job(
                    "run",
                    make_graph,
                    input,
                    config,
                    directory / "graph.db",
                    directory / "ledger",
                    directory / "run.pickle",
                    mode,
                    node,
                    moment,
                )
                points.append(_point(children, job, reference))
    result = SweepResult(tuple(points), reference["state"])
    _record(result)
    return result


def _reference(
    children: _Children, make_graph: Callable[[str], Any], input: Any, config: Any, root: Path
) -> dict[str, Any]:
    """The fault-free run, in a child like the others: final state, nodes, executions."""
    directory = root / "reference"
    job = Job(
        "reference",
        make_graph,
        input,
        config,
        directory / "graph.db",
        directory / "ledger",
        directory / "reference.pickle",
        "sync",
    )
    code, written, problem = children.run(job)
    if problem or written is None or "error" in written or code != 0:
        detail = problem or (written or {}).get("trace") or f"exit code {code}"
        raise RuntimeError(f"crash_sweep: the fault-free reference run failed: {detail}")
    ledger = read_ledger(job.ledger)
    ran = Counter(e["node"] for e in ledger if e["event"] == "ran")
    return {
        "state": written["state"],
        "all_nodes": written["nodes"],
        "nodes": [n for n in written["nodes"] if ran[n]]
        + [n for n in written["nodes"] if not ran[n]],
        "ran": ran,
        "effects": Counter(e["node"] for e in ledger if e["event"] == "effect"),
        "side_effects": set(written["side_effects"]),
    }


def _point(children: _Children, job: Job, reference: dict[str, Any]) -> SweepPoint:
    node, moment, mode = job.kill_node or "", job.kill_when or "", job.durability or ""

    def point(**fields: Any) -> SweepPoint:
        defaults: dict[str, Any] = {
            "reached": True,
            "resumed": (),
            "final_equal": False,
            "ran_twice": (),
            "duplicated_effects": 0,
            "error": None,
        }
        return SweepPoint(node=node, when=moment, durability=mode, **{**defaults, **fields})

    code, written, problem = children.run(job)
    ledger = read_ledger(job.ledger)
    killed = code == -signal.SIGKILL and any(e["event"] == "kill" for e in ledger)
    if problem:
        return point(reached=False, error=problem)
    if code == 0 and written is not None and "error" not in written:
        return point(reached=False, error=f"{NOT_REACHED}: the input never reaches {node!r}")
    if not killed:
        detail = (written or {}).get("error") or f"exit code {code}"
        return point(reached=False, error=f"child died before the kill point: {detail}")
    resume = Job(
        "resume",
        job.make_graph,
        None,
        job.config,
        job.db,
        job.ledger,
        job.result.with_name("resume.pickle"),
        mode,
    )
    code, written, problem = children.run(resume)
    ledger = read_ledger(job.ledger)
    _record_children(job, ledger)
    if problem or written is None or "error" in written or code != 0:
        detail = problem or (written or {}).get("error") or f"exit code {code}"
        return point(error=f"resume failed: {detail}")
    return _judge(point, ledger, written, reference)


def _judge(
    point: Callable[..., SweepPoint],
    ledger: list[dict[str, Any]],
    resumed: dict[str, Any],
    reference: dict[str, Any],
) -> SweepPoint:
    ran = Counter(e["node"] for e in ledger if e["event"] == "ran")
    effects = Counter(e["node"] for e in ledger if e["event"] == "effect")
    twice = tuple(n for n in ran if ran[n] > reference["ran"][n])
    duplicated = sum(
        max(0, effects[n] - reference["effects"][n]) for n in reference["side_effects"]
    )
    return point(
        resumed=tuple(resumed["resumed"]),
        final_equal=resumed["state"] == reference["state"],
        ran_twice=twice,
        duplicated_effects=duplicated,
    )


def _record_children(job: Job, ledger: list[dict[str, Any]]) -> None:
    """The children's own events (each node run, effect, replay, the kill) into the run."""
    run = current_run()
    if run is None:
        return
    where = {"durability": job.durability, "kill_node": job.kill_node, "kill_when": job.kill_when}
    for event in ledger:
        payload = {**where, "pid": event["pid"], "key": event["key"]}
        run.record(event["node"], f"sweep_{event['event']}", None, payload)


def _record(result: SweepResult) -> None:
    """Each point is an event of the chaos run in progress (so it lands in the store)."""
    run = current_run()
    if run is None:
        return
    for p in result.points:
        payload = {**asdict(p), "durable": p.durable, "verdict": p.verdict}
        run.record(p.node, "sweep_point", None, payload)


def assert_durable(result: SweepResult, durability: str = "sync") -> None:
    """Every reached point of ``durability`` resumed to the fault-free state, effects once."""
    chosen = [p for p in result.points if p.durability == durability]
    if not chosen:
        raise AssertionError(f"chaos: the sweep ran no point with durability={durability!r}")
    bad = [p for p in chosen if not p.durable and p.verdict != NOT_REACHED]
    if bad or not any(p.durable for p in chosen):
        listed = "\n".join(
            f"  kill {p.when} {p.node!r}: {p.verdict}"
            + (f" ({p.error})" if p.error else "")
            + ("" if p.final_equal else "; final state differs")
            + (f"; {p.duplicated_effects} duplicated effect(s)" if p.duplicated_effects else "")
            for p in bad
        )
        raise AssertionError(
            f"chaos: the graph is not durable with durability={durability!r}:\n{listed}\n"
            f"{result.table()}"
        )
